"""Serializer fields the reservation routes and the spot routes' windows share."""

from django.utils import timezone
from rest_framework import serializers


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with an offset; a time without one is ambiguous, so it is refused."""

    default_error_messages = {"naive": "Include a UTC offset, e.g. 2026-11-29T15:04:05Z."}

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)
