from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Now

from reservations.models import BILLED_STATUSES, HOLDING_STATUSES, Reservation, ReservationStatus
from secure_my_spot.exceptions import NotFoundError
from users.models import User, normalize_email
from users.selectors import email_is_proven

NOT_FOUND = "Reservation not found."


def reservation_holding_q(*, now: datetime | Now) -> Q:
    """Reservations that hold their spot at `now`: active and running, or a live payment hold.

    A pending_payment row whose hold ran out holds nothing, cleaned up or not. The one
    definition; availability's triggers keep a copy in SQL (availability_hold_range), which
    tests/availability/test_hold_rule.py holds to this on every case.
    """
    running = Q(start_time__lte=now, end_time__gt=now)
    active = Q(status=ReservationStatus.ACTIVE)
    live_hold = Q(status=ReservationStatus.PENDING_PAYMENT, hold_expires_at__gt=now)
    return running & (active | live_hold)


def reservation_holding_window_q(*, start: datetime, end: datetime, now: datetime) -> Q:
    """Reservations that keep their spot from being booked for [start, end), as of `now`.

    Active, or a payment hold still live at `now`, overlapping the window anywhere: a live
    hold may yet be paid for, and then holds its whole window (the exclusion constraint
    keeps it from being booked twice meanwhile). Unlike reservation_holding_q, a future
    reservation counts here: this asks about its window, not about the moment `now`.
    """
    overlaps = Q(start_time__lt=end, end_time__gt=start)
    active = Q(status=ReservationStatus.ACTIVE)
    live_hold = Q(status=ReservationStatus.PENDING_PAYMENT, hold_expires_at__gt=now)
    return overlaps & (active | live_hold)


def spot_ids_held_within(*, start: datetime, end: datetime, now: datetime) -> QuerySet:
    """For the spots selector (`pk__in`): the spots a reservation keeps from being booked
    for [start, end) (reservation_holding_window_q).

    A set built once through the status index (a hashed subplan), not a probe per spot:
    its cost follows the reservations still to come, never a spot's history.
    """
    holding = Reservation.objects.filter(
        reservation_holding_window_q(start=start, end=end, now=now), status__in=HOLDING_STATUSES
    )
    return holding.values("spot_id")


def reservation_first_clash(
    *, spot_id: int, start: datetime, end: datetime, now: datetime, exclude_id: int | None = None
) -> tuple[datetime, datetime] | None:
    """The window of the earliest reservation that keeps `spot_id` from [start, end), if any.

    Only times: who holds the spot is nobody else's business.
    """
    clashes = Reservation.objects.filter(
        reservation_holding_window_q(start=start, end=end, now=now), spot_id=spot_id
    ).exclude(pk=exclude_id)
    return clashes.order_by("start_time").values_list("start_time", "end_time").first()


# How many of a spot's reservations the search for its next free window looks through.
FREE_WINDOW_SEARCH_ROWS = 500


def spot_next_free_start(
    *, spot_id: int, after: datetime, minutes: int, until: datetime, now: datetime
) -> datetime | None:
    """The earliest start at or after `after`, and not after `until`, from which `spot_id`
    is free for `minutes`; None when there is none (or past FREE_WINDOW_SEARCH_ROWS of its
    reservations: the search is bounded work inside a booking's transaction)."""
    length = timedelta(minutes=minutes)
    taken = list(
        Reservation.objects.filter(
            reservation_holding_window_q(start=after, end=until + length, now=now),
            spot_id=spot_id,
        )
        .order_by("start_time")
        .values_list("start_time", "end_time")[:FREE_WINDOW_SEARCH_ROWS]
    )
    candidate = after
    for taken_start, taken_end in taken:
        if taken_start >= candidate + length:
            break
        candidate = max(candidate, taken_end)
    else:
        if len(taken) == FREE_WINDOW_SEARCH_ROWS:
            return None
    return candidate if candidate <= until else None


def spot_is_held_now(*, now: datetime | None = None) -> Exists:
    """For the spots selector: true when a reservation holds the spot (`OuterRef("pk")`) now.

    "Now" is the database's clock when the query runs, the clock the availability version
    (its triggers) keeps: an answer and the version it is cached under agree on the time.
    """
    moment = Now() if now is None else now
    return Exists(
        Reservation.objects.filter(reservation_holding_q(now=moment), spot=OuterRef("pk"))
    )


def reservation_list_current(*, user: User) -> QuerySet[Reservation]:
    return Reservation.objects.filter(user=user, status__in=HOLDING_STATUSES)


def reservation_list_past(*, user: User) -> QuerySet[Reservation]:
    return Reservation.objects.filter(user=user, status__in=BILLED_STATUSES)


def reservation_get_for_user(*, public_id: str, user: User) -> Reservation:
    """Someone else's reservation is a 404, so ids reveal nothing."""
    reservation = Reservation.objects.filter(public_id=public_id, user=user).first()
    if reservation is None:
        raise NotFoundError(NOT_FOUND)
    return reservation


def reservation_get_for_guest(*, public_id: str, email: str) -> Reservation:
    """A guest reservation by public id and the e-mail it was made with, in any letter case.

    An account's reservations are reached with its token only: an e-mail alone is no secret,
    and the public id, random, is what makes the pair one.
    """
    email = normalize_email(email)
    try:
        validate_email(email)
    except ValidationError as exc:
        raise NotFoundError(NOT_FOUND) from exc
    reservation = Reservation.objects.filter(
        public_id=public_id, email=email, user__isnull=True
    ).first()
    if reservation is None:
        raise NotFoundError(NOT_FOUND)
    return reservation


def reservation_unpaid_blocking(*, user: User | None, email: str = "") -> QuerySet[Reservation]:
    """The unpaid bills that stop a booking: by `user` when signed in, else by a guest giving
    `email`. The one place that ties standing to an identity.

    Standing belongs to whoever proved they are the one who owes, never to an address anyone
    can type:
    - an account is stopped by its own reservations' failed charges;
    - a guest e-mail only once it is proven (users' `email_is_proven`), and then only by bills
      made under that proof: those of the verified account with that e-mail (booked since it
      was verified), and guest reservations whose manage link was opened (`email_proven_at`:
      the mailbox's owner has seen them). A stranger's guest booking under someone's e-mail
      is neither, so its debt never stops that person, nor a later guest of that e-mail.

    Derived from the reservations' status alone: a bill settled (`paid`) no longer stops
    anyone; nothing is stored that would need lifting.
    """
    failed = Reservation.objects.filter(status=ReservationStatus.PAYMENT_FAILED)
    if user is not None:
        return failed.filter(user=user)
    email = normalize_email(email)
    if not email_is_proven(email=email):
        return failed.none()
    opened_by_owner = Q(user__isnull=True, email_proven_at__isnull=False)
    booked_verified = Q(user__email=email, user__email_verified_at__lte=F("created_at"))
    return failed.filter(opened_by_owner | booked_verified, email=email)


def reservation_list_ahead(*, now: datetime) -> QuerySet[Reservation]:
    """Reservations booked ahead that have not started: what the caps on them count."""
    return Reservation.objects.filter(
        Q(status=ReservationStatus.ACTIVE)
        | Q(status=ReservationStatus.PENDING_PAYMENT, hold_expires_at__gt=now),
        start_time__gt=now,
    )


def reservation_free_cancel_until(reservation: Reservation) -> datetime:
    """Until when a paid-for reservation can still be cancelled free of charge (DELETE)."""
    before = timedelta(minutes=settings.RESERVATION_FREE_CANCEL_BEFORE_START_MINUTES)
    return reservation.start_time - before


def reservation_live_holds(*, now: datetime) -> QuerySet[Reservation]:
    """Payment holds that still hold their spot: what the caps on unpaid holds count."""
    return Reservation.objects.filter(
        status=ReservationStatus.PENDING_PAYMENT, hold_expires_at__gt=now
    )
