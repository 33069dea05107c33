"""A window in time the spot routes may be asked about (`start_time`, `end_time` or
`reservation_length`): which spots could be booked for all of it.

Without these parameters the routes answer for now, from the versioned cache. A window's
answer depends on the clock (a start may drift into the past) and on every booking of its
period, so it is built fresh for each request (bounded like any search: a viewport or a
radius with `limit`) and throttled apart (`spot_windows`).
"""

import re

from django.http import HttpResponse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request

from availability.http import fresh_json
from reservations.fields import AwareDateTimeField
from reservations.windows import Window, reservation_window_resolve

WINDOW_PARAMETERS = ("start_time", "end_time", "reservation_length")
# "+05:00" in a query string arrives as " 05:00" when the client did not encode the "+".
UNENCODED_OFFSET = re.compile(r" (\d\d(?::?\d\d)?)$")
CACHE_CONTROL = "private, no-store"


class QueryDateTimeField(AwareDateTimeField):
    def to_internal_value(self, value: object) -> object:
        if isinstance(value, str):
            value = UNENCODED_OFFSET.sub(r"+\1", value)
        return super().to_internal_value(value)


class WindowInputSerializer(serializers.Serializer):
    start_time = QueryDateTimeField(required=False)
    end_time = QueryDateTimeField(required=False)
    reservation_length = serializers.IntegerField(min_value=1, required=False)


def window_asked(request: Request) -> bool:
    return any(name in request.query_params for name in WINDOW_PARAMETERS)


def window_from_query(request: Request) -> Window | None:
    """The window the query string asks about; None when it asks about now. A 400 naming
    the parameter when it is malformed, in the past, too far ahead or too long."""
    if not window_asked(request):
        return None
    serializer = WindowInputSerializer(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return reservation_window_resolve(
        start_time=data.get("start_time"),
        end_time=data.get("end_time"),
        reservation_length=data.get("reservation_length"),
        now=timezone.now(),
    )


def window_json(request: Request, body: bytes | str) -> HttpResponse:
    """A window's answer: for this client and this moment only, so stored nowhere."""
    response = fresh_json(request, body)
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
