"""Accounts, their tokens and their vehicles. Tokens are knox's: hashed at rest, one per
sign-in."""

import time

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from knox.models import AuthToken

from secure_my_spot.cache import fail_open_cache
from secure_my_spot.exceptions import ApplicationError, ConflictError
from secure_my_spot.locking import row_lock
from users.emails import account_email_queue
from users.models import ProvenEmail, User, Vehicle, normalize_email
from users.plates import plate_normalise, plate_state_normalise
from users.selectors import sign_in_backoff_keys, sign_in_retry_after
from users.tokens import (
    password_reset_token_make,
    password_reset_token_user,
    verification_token_make,
    verification_token_matches,
    verification_token_read,
)

EMAIL_TAKEN = "An account with this e-mail already exists."
VERIFICATION_LINK_INVALID = "This link is invalid, has expired or was already used."
RESET_LINK_INVALID = "This reset link is invalid, has expired or was already used."


class InvalidCredentials(ApplicationError):
    status_code = 401


class SignInBackoff(ApplicationError):
    """Too many failed sign-ins for one address, from wherever they came."""

    status_code = 429

    def __init__(self, *, retry_after: int) -> None:
        super().__init__("Too many failed sign-ins for this e-mail; try again later.")
        self.retry_after = retry_after


def _validate_new_password(*, password: str, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


def auth_token_issue(*, user: User) -> tuple[AuthToken, str]:
    """A fresh token for one device; the key is returned once and only its hash is stored."""
    return AuthToken.objects.create(user=user)


def user_create(*, email: str, password: str) -> User:
    user = User(email=normalize_email(email))
    _validate_new_password(password=password, user=user, field="password")
    user.set_password(password)
    try:
        with transaction.atomic():
            if User.objects.filter(email=user.email).exists():
                raise ValidationError({"email": [EMAIL_TAKEN]})
            user.save()
    except IntegrityError as exc:  # a concurrent sign-up with the same address won
        raise ValidationError({"email": [EMAIL_TAKEN]}) from exc
    user_verification_send(user=user)
    return user


def sign_in_failure_record(*, email: str) -> None:
    """Count a failed sign-in for `email`; from the Nth within the window on, lock the address
    for a period that doubles with each further failure (up to a maximum).

    Keyed by the address alone, known or not, so spreading guesses over many client addresses
    does not help, and the answers do not tell whether an account exists.
    """
    failures_key, locked_key = sign_in_backoff_keys(email=email)
    window = settings.SIGN_IN_BACKOFF_WINDOW_SECONDS
    fail_open_cache.add(failures_key, 0, timeout=window)
    try:
        failures = fail_open_cache.incr(failures_key)
    except ValueError:  # expired between add and incr
        fail_open_cache.set(failures_key, 1, timeout=window)
        failures = 1
    over = failures - settings.SIGN_IN_BACKOFF_FAILURES
    if over < 0:
        return
    lock = min(
        settings.SIGN_IN_BACKOFF_BASE_SECONDS * 2 ** min(over, 32),
        settings.SIGN_IN_BACKOFF_MAX_SECONDS,
    )
    fail_open_cache.set(locked_key, time.time() + lock, timeout=lock)
    # The count outlives the lock, so the next failure after it locks for longer.
    fail_open_cache.touch(failures_key, window + lock)


def sign_in_failures_clear(*, email: str) -> None:
    fail_open_cache.delete_many(list(sign_in_backoff_keys(email=email)))


def user_sign_in(*, email: str, password: str) -> tuple[User, AuthToken, str]:
    """Check the password unless the address is in its backoff, then issue a token.

    The model backend is called directly: django-axes, in AUTHENTICATION_BACKENDS, guards the
    admin's form login and needs its request; the API has the backoff here instead.
    """
    retry_after = sign_in_retry_after(email=email)
    if retry_after:
        raise SignInBackoff(retry_after=retry_after)
    user = ModelBackend().authenticate(None, username=normalize_email(email), password=password)
    if user is None:
        sign_in_failure_record(email=email)
        raise InvalidCredentials("Invalid e-mail or password.")
    sign_in_failures_clear(email=email)
    token, key = auth_token_issue(user=user)
    return user, token, key


def user_sign_out(*, token: AuthToken) -> None:
    token.delete()


def user_change_password(
    *, user: User, current_token: AuthToken, email: str, password: str, new_password: str
) -> None:
    """Change the password and revoke every token but the one making the request."""
    if normalize_email(email) != user.email:
        raise ValidationError({"email": ["This is not the e-mail of the signed-in account."]})
    if not user.check_password(password):
        raise ValidationError({"password": ["The current password is incorrect."]})
    _validate_new_password(password=new_password, user=user, field="new_password")
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        AuthToken.objects.filter(user=user).exclude(digest=current_token.digest).delete()


def email_mark_proven(*, email: str) -> None:
    """Record that the owner of `email` read its mail; the first proof's time is kept."""
    ProvenEmail.objects.bulk_create(
        [ProvenEmail(email=normalize_email(email), proven_at=timezone.now())],
        ignore_conflicts=True,
    )


def user_verification_send(*, user: User) -> None:
    """Queue a fresh verification link (sent by the workers after commit)."""
    if user.email_verified:
        raise ConflictError("This e-mail address is already verified.")
    account_email_queue(
        kind="verify_email",
        to=user.email,
        token=verification_token_make(user=user),
        valid_for_seconds=settings.EMAIL_VERIFICATION_TIMEOUT,
    )


def user_verify_email(*, token: str) -> User:
    """Mark the account of a genuine, unexpired token verified; a token works once, since
    only an unverified account with the same address can take it."""
    read = verification_token_read(token=token)
    user = User.objects.filter(pk=read[0]).first() if read else None
    if user is None or not verification_token_matches(user=user, fingerprint=read[1]):
        raise ApplicationError(VERIFICATION_LINK_INVALID, field="token")
    with transaction.atomic():
        verified = User.objects.filter(
            pk=user.pk, email=user.email, email_verified_at__isnull=True
        ).update(email_verified_at=timezone.now())
        if not verified:
            raise ApplicationError(VERIFICATION_LINK_INVALID, field="token")
        email_mark_proven(email=user.email)
    user.refresh_from_db()
    return user


def password_reset_request(*, email: str) -> None:
    """Mail a reset link to the account of `email`, if there is an active one.

    The caller answers the same either way: whether an account exists is nobody's business.
    """
    user = User.objects.filter(email=normalize_email(email), is_active=True).first()
    if user is None:
        return
    account_email_queue(
        kind="password_reset",
        to=user.email,
        token=password_reset_token_make(user=user),
        valid_for_seconds=settings.PASSWORD_RESET_TIMEOUT,
    )


def password_reset_confirm(*, token: str, new_password: str) -> User:
    """Set the new password and revoke every token of the account.

    The new password voids the reset token (Django's token hashes the password). Following
    a link mailed to the address also proves it, and ends any sign-in backoff.
    """
    with transaction.atomic():
        user = password_reset_token_user(token=token)
        if user is None:
            raise ApplicationError(RESET_LINK_INVALID, field="token")
        _validate_new_password(password=new_password, user=user, field="new_password")
        user.set_password(new_password)
        user.email_verified_at = user.email_verified_at or timezone.now()
        user.save(update_fields=["password", "email_verified_at"])
        AuthToken.objects.filter(user=user).delete()
        email_mark_proven(email=user.email)
    sign_in_failures_clear(email=user.email)
    return user


class VehicleLimitReached(ConflictError):
    """The account keeps VEHICLES_PER_ACCOUNT vehicles already.

    Field-style first, as a taken spot is (the original client shows a 409's first value),
    with `detail` repeating it.
    """

    def __init__(self, *, limit: int) -> None:
        vehicles = "vehicle" if limit == 1 else "vehicles"
        message = (
            f"An account keeps at most {limit} {vehicles} and this one has {limit}: "
            "remove one to add another."
        )
        super().__init__(message, field="plate")
        self.detail = message
        self.limit = limit


def _normalised(*, plate: str, state: str) -> tuple[str, str]:
    """Both normalised (idempotent for the API's already normalised values), errors by field."""
    try:
        plate = plate_normalise(plate)
    except ValidationError as exc:
        raise ValidationError({"plate": exc.messages}) from exc
    try:
        state = plate_state_normalise(state)
    except ValidationError as exc:
        raise ValidationError({"state": exc.messages}) from exc
    return plate, state


def vehicle_add(*, user: User, plate: str, state: str, nickname: str = "") -> tuple[Vehicle, bool]:
    """The person's vehicle with this plate, added unless they have it (then `created` is
    False and the nickname is left alone); VehicleLimitReached when the account is full.

    Counting and inserting happen under a lock of the user's row, so concurrent adds cannot
    pass the cap together; FOR NO KEY UPDATE, so inserts that reference the user (bookings)
    do not wait for it. A booking that remembers its plate takes it as its last lock.
    """
    plate, state = _normalised(plate=plate, state=state)
    with transaction.atomic():
        row_lock(User.objects.filter(pk=user.pk), no_key=True)
        vehicle = Vehicle.objects.filter(user=user, plate=plate, plate_state=state).first()
        if vehicle is not None:
            return vehicle, False
        limit = settings.VEHICLES_PER_ACCOUNT
        if Vehicle.objects.filter(user=user).count() >= limit:
            raise VehicleLimitReached(limit=limit)
        vehicle = Vehicle.objects.create(
            user=user, plate=plate, plate_state=state, nickname=nickname
        )
    return vehicle, True


def vehicle_remember(*, user: User, plate: str, state: str) -> Vehicle | None:
    """A booked plate among the person's vehicles: theirs already, saved now, or None (and
    nothing saved) when the account is full. A booking never fails for it."""
    try:
        vehicle, _ = vehicle_add(user=user, plate=plate, state=state)
    except VehicleLimitReached:
        return None
    return vehicle


def vehicle_rename(*, vehicle: Vehicle, nickname: str) -> Vehicle:
    vehicle.nickname = nickname
    vehicle.save(update_fields=["nickname", "updated_at"])
    return vehicle


def vehicle_remove(*, vehicle: Vehicle) -> None:
    """Reservations keep their own copy of the plate: none of them changes."""
    vehicle.delete()
