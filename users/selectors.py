"""Reads about accounts and addresses: what an account may do, which e-mails are proven."""

import math
import time

from django.conf import settings

from secure_my_spot.cache import fail_open_cache
from users.models import ProvenEmail, User, email_digest, normalize_email


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
