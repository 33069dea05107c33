"""Reads about accounts and addresses: what an account may do, which e-mails are proven,
which vehicles it keeps."""

import math
import time

from django.conf import settings
from django.db.models import QuerySet

from secure_my_spot.cache import fail_open_cache
from secure_my_spot.exceptions import NotFoundError
from users.models import ProvenEmail, User, Vehicle, email_digest, normalize_email


def user_may_book(user: User) -> bool:
    """Whether the account may book: verified, or unverified accounts allowed by setting."""
    return settings.UNVERIFIED_ACCOUNTS_MAY_BOOK or user.email_verified


def email_is_proven(*, email: str) -> bool:
    """True once the owner of the address showed they read its mail, as a guest or through
    a verified account."""
    email = normalize_email(email)
    return (
        ProvenEmail.objects.filter(email=email).exists()
        or User.objects.filter(email=email, email_verified_at__isnull=False).exists()
    )


def sign_in_backoff_keys(*, email: str) -> tuple[str, str]:
    """Cache keys of one address's failed sign-ins and of its lock (the time it ends)."""
    digest = email_digest(email)
    return f"users:sign-in-failures:{digest}", f"users:sign-in-locked:{digest}"


def sign_in_retry_after(*, email: str) -> int:
    """Seconds until `email` may try to sign in again; 0 when it may now."""
    _, locked_key = sign_in_backoff_keys(email=email)
    locked_until = fail_open_cache.get(locked_key)
    if locked_until is None:
        return 0
    return max(0, math.ceil(locked_until - time.time()))


VEHICLE_NOT_FOUND = "Vehicle not found."


def vehicle_list(*, user: User) -> QuerySet[Vehicle]:
    """Oldest first: the order the person added them, stable across answers."""
    return Vehicle.objects.filter(user=user).order_by("created_at", "pk")


def vehicle_get_for_user(*, public_id: str, user: User) -> Vehicle:
    """Someone else's vehicle is a 404, as a reservation is: knowing an id gives nothing."""
    vehicle = Vehicle.objects.filter(public_id=public_id, user=user).first()
    if vehicle is None:
        raise NotFoundError(VEHICLE_NOT_FOUND)
    return vehicle
