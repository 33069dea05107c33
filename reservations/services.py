"""Every change of a reservation's state happens here, under a row lock, checked and repeatable.

Lock order is always spot, then reservation, so booking, changing the end and cancelling
cannot deadlock each other. Each change that the driver is told about queues its e-mail in
its own transaction (reservations/emails.py); the workers send it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from parking_spots.models import ParkingSpot
from parking_spots.pricing import MINUTE
from parking_spots.selectors import zone_rates_for
from reservations.emails import format_local_time, format_local_window, reservation_email_queue
from reservations.models import (
    HOLDING_STATUSES,
    IdempotentRequest,
    Reservation,
    ReservationStatus,
)
from reservations.pricing import (
    cents_to_dollars,
    reservation_amount_cents,
    stay_legal_end,
)
from reservations.selectors import (
    reservation_first_clash,
    reservation_free_cancel_until,
    reservation_list_ahead,
    reservation_live_holds,
    reservation_unpaid_blocking,
    spot_next_free_start,
)
from reservations.signals import reservation_ended
from reservations.windows import reservation_latest_start, reservation_start_resolve
from secure_my_spot import metrics
from secure_my_spot.db import after_commit
from secure_my_spot.exceptions import ApplicationError, ConflictError, NotFoundError
from secure_my_spot.locking import advisory_xact_locks, row_lock
from users.models import User, normalize_email
from users.selectors import user_may_book
from users.services import email_mark_proven, vehicle_remember

S = ReservationStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING_PAYMENT: frozenset({S.ACTIVE, S.CANCELLED}),
    S.ACTIVE: frozenset({S.ENDED}),
    S.ENDED: frozenset({S.PAID, S.PAYMENT_FAILED}),
    S.PAYMENT_FAILED: frozenset({S.PAID}),
    S.PAID: frozenset(),
    S.CANCELLED: frozenset(),
}
# A paid-for reservation that has not started is still only a promise of a spot: until its
# free cancellation ends (reservation_free_cancel_until) it may be cancelled, billed nothing.
UPCOMING_TRANSITIONS: dict[str, frozenset[str]] = {S.ACTIVE: frozenset({S.CANCELLED})}
NO_DOUBLE_BOOKING = "reservation_no_double_booking"
SPOT_TAKEN = "This parking spot is not available for that period."
ACCOUNT_UNPAID = "A previous reservation is unpaid: settle it before booking again."
# What a guest booking under a proven e-mail with a bill is told: nothing about money, since
# whoever typed the address may be anyone; its owner knows why from our e-mails.
GUEST_EMAIL_HELD = (
    "This e-mail cannot book as a guest right now: sign in to book, or follow the newest "
    "e-mail we sent to this address."
)
# How long a booking waits for another booking of the same account, e-mail or address.
HOLDER_LOCK_TIMEOUT = "5s"
IDEMPOTENCY_TTL = timedelta(hours=24)
# A key whose request has run this long without an answer was abandoned (its process died).
IDEMPOTENCY_IN_FLIGHT_LAPSE = timedelta(minutes=2)
# Day-old keys deleted by each new one: the table stays about a day of keys long.
IDEMPOTENCY_PURGE_BATCH = 100


class BookingNotAllowed(ApplicationError):
    """The account may not book yet (its e-mail is unverified and the setting asks for it)."""

    status_code = 403


class SpotTaken(ConflictError):
    """Another reservation holds the spot for part of the period asked for.

    Answered field-style first (`{"parking_spot": [...], "detail": ...}`): the original
    client shows a 409 as its body's first value's first item. `detail` repeats the message
    for the clients that read it.
    """

    def __init__(self, message: str = SPOT_TAKEN, *, field: str = "parking_spot") -> None:
        super().__init__(message, field=field)
        self.detail = message


class IdempotencyKeyReused(ApplicationError):
    """The key was first used for another request: Stripe's answer, a 422."""

    status_code = 422


def _check_legal(*, meter_hours: str, start: datetime, end: datetime, field: str) -> None:
    """A 400 naming the posted limit when a stay from `start` may not last until `end`:
    within metered hours the meter's limit holds, outside them none does
    (parking_spots.pricing.stay_legal_max_end)."""
    legal_end, rule = stay_legal_end(meter_hours=meter_hours, start=start, end=end)
    if legal_end is not None and end > legal_end:
        raise ApplicationError(
            f"Parking here from {format_local_time(start)} is legal until "
            f"{format_local_time(legal_end)} at the latest (New York time): {rule}.",
            field=field,
        )


def _transition(reservation: Reservation, to: str, *, upcoming: bool = False) -> None:
    """Change the status along TRANSITIONS; `upcoming` (the caller checked that the stay
    has not started and may still be cancelled) adds UPCOMING_TRANSITIONS."""
    allowed = TRANSITIONS[reservation.status]
    if upcoming:
        allowed |= UPCOMING_TRANSITIONS.get(reservation.status, frozenset())
    if to not in allowed:
        raise ConflictError(f"A reservation that is {reservation.status} cannot become {to}.")
    reservation.status = to


def reservation_lock(*, reservation_id: int) -> Reservation:
    """The reservation, locked until the transaction ends: every state change starts here."""
    reservation = row_lock(Reservation.objects.filter(pk=reservation_id))
    if reservation is None:
        raise NotFoundError("Reservation not found.")
    return reservation


def _lock_spot(spot_id: int) -> ParkingSpot:
    """Serialise the writers of one spot's reservations.

    FOR NO KEY UPDATE leaves the FOR KEY SHARE of foreign-key checks alone: Django's foreign
    keys are checked at commit, and a transaction inserting a reservation must not deadlock
    with a booking that holds this lock.
    """
    spot = row_lock(ParkingSpot.objects.filter(pk=spot_id), no_key=True)
    if spot is None:
        raise NotFoundError("Parking spot not found.")
    return spot


def _save_or_conflict(reservation: Reservation, **save_kwargs) -> None:
    """The exclusion constraint is the last guard: its violation is a 409, never a 500."""
    try:
        with transaction.atomic():
            reservation.save(**save_kwargs)
    except IntegrityError as exc:
        diag = getattr(exc.__cause__, "diag", None)
        if getattr(diag, "constraint_name", None) == NO_DOUBLE_BOOKING:
            raise SpotTaken() from exc
        raise


def _overlaps(*, spot_id: int, start: datetime, end: datetime, exclude_id: int | None) -> bool:
    return (
        Reservation.objects.filter(
            spot_id=spot_id, status__in=HOLDING_STATUSES, start_time__lt=end, end_time__gt=start
        )
        .exclude(pk=exclude_id)
        .exists()
    )


def reservation_cancel_stale_holds(
    *, now: datetime, spot_id: int | None = None, exclude_id: int | None = None
) -> int:
    """Cancel pending_payment reservations whose payment hold ran out; safe to repeat."""
    stale = Reservation.objects.filter(status=S.PENDING_PAYMENT, hold_expires_at__lte=now)
    if spot_id is not None:
        stale = stale.filter(spot_id=spot_id)
    if exclude_id is not None:
        stale = stale.exclude(pk=exclude_id)
    return stale.update(status=S.CANCELLED, amount_cents=0, updated_at=now)


def _lock_holders(keys: list[str]) -> None:
    """Serialise the bookings of one account, e-mail or client address until commit, so that
    two parallel bookings cannot both pass the cap on unpaid holds (lock order: first)."""
    advisory_xact_locks(
        namespace="reservation-holder",
        keys=keys,
        timeout=HOLDER_LOCK_TIMEOUT,
        busy_message="Another booking of yours is under way: try again shortly.",
    )


def _per_holder(
    reservations: QuerySet[Reservation],
    *,
    user: User | None,
    email: str,
    client_address: str | None,
) -> list[tuple[QuerySet[Reservation], str]]:
    """`reservations` of the booking's account (or guest e-mail) and of its client address.

    A guest's reservations count against the e-mail, an account's against the account:
    guest bookings under someone's address never use up that person's account.
    """
    if user is not None:
        scopes = [(reservations.filter(user=user), "per account")]
    else:
        scopes = [(reservations.filter(user__isnull=True, email=email), "per e-mail address")]
    if client_address is not None:
        scopes.append((reservations.filter(client_address=client_address), "per network address"))
    return scopes


def _check_hold_caps(*, user: User | None, email: str, client_address: str | None) -> None:
    """At most HOLDS_MAX_PER_* unpaid holds at once per account, guest e-mail and address.

    A hold that ran out, was paid for or was cancelled frees its place at once.
    """
    live = reservation_live_holds(now=timezone.now())
    limits = {
        "per account": settings.HOLDS_MAX_PER_ACCOUNT,
        "per e-mail address": settings.HOLDS_MAX_PER_EMAIL,
        "per network address": settings.HOLDS_MAX_PER_ADDRESS,
    }
    for holds, per in _per_holder(live, user=user, email=email, client_address=client_address):
        limit = limits[per]
        if holds.count() >= limit:
            raise ConflictError(
                f"Too many unpaid reservations: at most {limit} may wait for payment at once "
                f"{per}. Pay for or cancel one, or wait until its hold runs out."
            )


def _check_ahead_caps(
    *, user: User | None, email: str, client_address: str | None, now: datetime
) -> None:
    """At most RESERVATIONS_AHEAD_MAX reservations not yet started at once per account,
    guest e-mail and address: cancelling free of charge until the start must not let one
    client keep a street's spots for a month at no cost."""
    limit = settings.RESERVATIONS_AHEAD_MAX
    ahead = reservation_list_ahead(now=now)
    for booked, per in _per_holder(ahead, user=user, email=email, client_address=client_address):
        if booked.count() >= limit:
            raise ConflictError(
                f"Too many reservations booked ahead: at most {limit} that have not started "
                f"yet at once {per}. Cancel one, or book again once one has started."
            )


def _spot_taken(
    *, spot_id: int, start: datetime, end: datetime, now: datetime, exclude_id: int | None = None
) -> tuple[str, datetime] | None:
    """'This parking spot is not available from ... (New York time).' naming the first
    reservation in the way, and that reservation's start; None when none is (any longer)."""
    clash = reservation_first_clash(
        spot_id=spot_id, start=start, end=end, now=now, exclude_id=exclude_id
    )
    if clash is None:
        return None
    message = (
        f"This parking spot is not available from {format_local_window(*clash)} (New York time)."
    )
    return message, clash[0]


def _booking_conflict(*, spot_id: int, start: datetime, end: datetime, now: datetime) -> SpotTaken:
    """The 409 of a booking that clashes: the window in the way and the next free one of
    the same length (searched up to the latest start a booking may have)."""
    taken = _spot_taken(spot_id=spot_id, start=start, end=end, now=now)
    if taken is None:
        return SpotTaken()
    minutes = int((end - start) / MINUTE)
    free_from = spot_next_free_start(
        spot_id=spot_id,
        after=start,
        minutes=minutes,
        until=reservation_latest_start(now=now),
        now=now,
    )
    if free_from is None:
        days = settings.RESERVATION_MAX_DAYS_AHEAD
        after = f" It has no free {minutes} minutes within the next {days} days."
    else:
        after = f" It is free for {minutes} minutes from {format_local_time(free_from)}."
    return SpotTaken(taken[0] + after)


def reservation_create(
    *,
    spot_id: int,
    reservation_length: int,
    start_time: datetime | None = None,
    user: User | None = None,
    email: str = "",
    client_address: str | None = None,
    plate: str = "",
    plate_state: str = "",
) -> Reservation:
    """Hold a spot for `reservation_length` minutes from `start_time` (now when None; see
    reservations.windows for the limits) while the client pays.

    `plate` and `plate_state` (normalised, users.plates) name the car, or are empty for a
    client that sends none; an account's new plate joins its vehicles while there is room.

    The payment hold runs from now whatever the start: a future reservation is paid for
    (its card saved) before it starts, and holds its spot only for its own window.
    `client_address` is the booking client's, as the throttles see it (None when unknown).
    An unpaid bill stops the booking (`reservation_unpaid_blocking` says whose); an account
    is told why, a guest e-mail is not (see GUEST_EMAIL_HELD).
    """
    if user is not None and not user_may_book(user):
        raise BookingNotAllowed(
            "Verify your e-mail address before booking: follow the link we e-mailed you "
            "(POST /resend-verification/ sends a new one)."
        )
    email = normalize_email(user.email if user is not None else email)
    if reservation_unpaid_blocking(user=user, email=email).exists():
        raise ConflictError(ACCOUNT_UNPAID if user is not None else GUEST_EMAIL_HELD)
    holders = [f"user:{user.pk}" if user is not None else f"email:{email}"]
    if client_address is not None:
        holders.append(f"address:{client_address}")
    with transaction.atomic():
        _lock_holders(holders)
        _check_hold_caps(user=user, email=email, client_address=client_address)
        spot = _lock_spot(spot_id)
        if not spot.active:
            raise ConflictError("This parking spot is not in service.")
        maximum = settings.RESERVATION_MAX_MINUTES
        if reservation_length > maximum:
            raise ApplicationError(
                f"Ensure this value is less than or equal to {maximum}.",
                field="reservation_length",
            )
        now = timezone.now()
        start = reservation_start_resolve(start_time=start_time, now=now)
        end = start + timedelta(minutes=reservation_length)
        _check_legal(meter_hours=spot.meter_hours, start=start, end=end, field="reservation_length")
        if start > now:
            _check_ahead_caps(user=user, email=email, client_address=client_address, now=now)
        reservation_cancel_stale_holds(now=now, spot_id=spot.pk)
        if _overlaps(spot_id=spot.pk, start=start, end=end, exclude_id=None):
            raise _booking_conflict(spot_id=spot.pk, start=start, end=end, now=now)
        zone = zone_rates_for(spot=spot)
        reservation = Reservation(
            user=user,
            email=email,
            spot=spot,
            rate=cents_to_dollars(zone.first_hour_cents),
            first_hour_cents=zone.first_hour_cents,
            later_hour_cents=zone.later_hour_cents,
            meter_hours=spot.meter_hours,
            start_time=start,
            end_time=end,
            status=S.PENDING_PAYMENT,
            hold_expires_at=now + timedelta(minutes=settings.RESERVATION_HOLD_MINUTES),
            client_address=client_address,
            plate=plate,
            plate_state=plate_state,
        )
        _save_or_conflict(reservation)
        metrics.booking_created(guest=user is None)
        if user is not None and plate:
            vehicle_remember(user=user, plate=plate, state=plate_state)  # the last lock
    return reservation


def _cancel_locked(reservation: Reservation, *, upcoming: bool = False) -> None:
    _transition(reservation, S.CANCELLED, upcoming=upcoming)
    reservation.amount_cents = 0
    reservation.save(update_fields=["status", "amount_cents", "updated_at"])


def reservation_cancel(*, reservation_id: int) -> Reservation:
    """Cancel an unpaid hold, or a paid-for reservation before its free cancellation ends:
    the spot is free at once and nothing is billed. Repeatable.

    Past that, an active reservation is ended (PATCH), so that it is billed: a 409 here.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status == S.CANCELLED:
            return reservation
        if reservation.status == S.ACTIVE:
            now = timezone.now()
            free_until = reservation_free_cancel_until(reservation)
            if now >= reservation.start_time:
                raise ConflictError("An active reservation is ended, not deleted, so it is billed.")
            if now >= free_until:
                raise ConflictError(
                    f"Free cancellation ended at {format_local_time(free_until)} (New York "
                    "time): end the reservation instead (PATCH); ended before its start, it is "
                    "billed for its first minute."
                )
            _cancel_locked(reservation, upcoming=True)
            return reservation
        _cancel_locked(reservation)
    return reservation


def reservation_activate(
    *,
    reservation_id: int,
    stripe_payment_method_id: str = "",
    card_brand: str = "",
    card_last4: str = "",
) -> Reservation:
    """Payment details are in: the hold becomes the reservation. Repeatable.

    A hold that ran out but was not cancelled is still the spot's (the constraint kept it),
    so it may still become active.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        confirmed = reservation.status != S.ACTIVE
        if confirmed:
            _transition(reservation, S.ACTIVE)
            reservation.hold_expires_at = None
        reservation.stripe_payment_method_id = (
            stripe_payment_method_id or reservation.stripe_payment_method_id
        )
        reservation.card_brand = card_brand or reservation.card_brand
        reservation.card_last4 = card_last4 or reservation.card_last4
        reservation.save()
        if confirmed:
            reservation_email_queue(kind="confirmed", reservation=reservation)
    return reservation


def _end_locked(reservation: Reservation) -> None:
    _transition(reservation, S.ENDED)
    reservation.ended_at = reservation.end_time
    reservation.amount_cents = reservation_amount_cents(reservation, end=reservation.ended_at)
    reservation.save(
        update_fields=[
            "status",
            "end_time",
            "ended_at",
            "amount_cents",
            "work_claimed_at",
            "updated_at",
        ]
    )


def reservation_end(*, reservation_id: int) -> Reservation:
    """End an active reservation whose time is up and fix its bill. Repeatable.

    Anything else (already ended, not active, or not due because its end moved later) is
    returned unchanged: a late or duplicated task may call this at any time.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status != S.ACTIVE or reservation.end_time > timezone.now():
            return reservation
        _end_locked(reservation)
    return reservation


def reservation_end_now(*, reservation_id: int) -> Reservation:
    """Stop an active reservation now: the spot is free and the bill fixed at once; the
    charge and the e-mail follow on the workers.

    One that has not started is cancelled while that is free, and otherwise billed for its
    first minute (the minimum charge at every meter rate below $30 an hour): a late
    cancellation costs the least a stay costs, not the whole window.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status != S.ACTIVE:
            if reservation.status == S.PENDING_PAYMENT:
                raise ConflictError("This reservation is not paid for yet: cancel it instead.")
            raise ConflictError(f"A reservation that is {reservation.status} cannot be ended.")
        now = timezone.now()
        if reservation.start_time > now:
            if now < reservation_free_cancel_until(reservation):
                _cancel_locked(reservation, upcoming=True)  # as DELETE would
                return reservation
            # Past the free cancellation, before the start: billed for its first minute.
            reservation.end_time = reservation.start_time + MINUTE
        else:
            reservation.end_time = min(reservation.end_time, now)
        # Claimed for the task queued below, so the workers' sweep does not queue it again.
        reservation.work_claimed_at = now
        _end_locked(reservation)
        # Robust: the ending is committed, so a broker outage must not turn the answer into
        # a 500; the workers' sweep picks up every ended reservation that is not charged.
        after_commit(reservation_ended.send, sender=Reservation, reservation_id=reservation.pk)
    return reservation


def reservation_expire_hold(*, reservation_id: int) -> bool:
    """Cancel one payment hold that ran out; False when it was paid or cancelled meanwhile."""
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status != S.PENDING_PAYMENT or reservation.hold_expires_at > timezone.now():
            return False
        _transition(reservation, S.CANCELLED)
        reservation.amount_cents = 0
        reservation.save(update_fields=["status", "amount_cents", "updated_at"])
    return True


def _change_conflict(*, reservation: Reservation, end: datetime, now: datetime) -> SpotTaken:
    """The 409 of a new end that clashes, with the latest end this reservation can have."""
    taken = _spot_taken(
        spot_id=reservation.spot_id,
        start=reservation.start_time,
        end=end,
        now=now,
        exclude_id=reservation.pk,
    )
    if taken is None:
        return SpotTaken(field="end_time")
    message, latest_end = taken
    return SpotTaken(
        f"{message} This reservation can end at {format_local_time(latest_end)} at the latest.",
        field="end_time",
    )


def reservation_change_end_time(*, reservation_id: int, end_time: datetime | None) -> Reservation:
    """None or a time not after now ends the reservation; a later time extends or shortens it."""
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None:
        raise NotFoundError("Reservation not found.")
    if end_time is not None and end_time < reservation.start_time:
        raise ApplicationError("The end cannot be before the start.", field="end_time")
    if end_time is None or end_time <= timezone.now():
        return reservation_end_now(reservation_id=reservation_id)
    if end_time == reservation.start_time:  # a future start: ending it is `null`
        raise ApplicationError("The end must be after the start.", field="end_time")
    with transaction.atomic():
        spot = _lock_spot(reservation.spot_id)
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status not in HOLDING_STATUSES:
            raise ConflictError(f"A reservation that is {reservation.status} cannot change.")
        now = timezone.now()
        if reservation.end_time <= now:
            raise ConflictError("This reservation has already run out.")
        maximum = settings.RESERVATION_MAX_MINUTES
        if end_time - reservation.start_time > timedelta(minutes=maximum):
            raise ApplicationError(
                f"A reservation lasts at most {maximum} minutes.", field="end_time"
            )
        _check_legal(
            meter_hours=reservation.meter_hours,
            start=reservation.start_time,
            end=end_time,
            field="end_time",
        )
        # Not this one: a hold that ran out is still its spot's until cancelled (activate).
        reservation_cancel_stale_holds(now=now, spot_id=spot.pk, exclude_id=reservation.pk)
        if _overlaps(
            spot_id=spot.pk, start=reservation.start_time, end=end_time, exclude_id=reservation.pk
        ):
            raise _change_conflict(reservation=reservation, end=end_time, now=now)
        reservation.end_time = end_time
        # A claim, and the task it queued, were for the old end: the workers claim anew.
        reservation.work_claimed_at = None
        _save_or_conflict(reservation, update_fields=["end_time", "work_claimed_at", "updated_at"])
        if reservation.status == S.ACTIVE:
            reservation_email_queue(kind="amended", reservation=reservation)
    return reservation


def reservation_change_plate(*, reservation_id: int, plate: str, plate_state: str) -> Reservation:
    """Record the car a stay is for: any time while it holds its spot if none was given,
    else only until it starts, since from then an agent may have checked the plate on it.

    The same plate again changes nothing and e-mails nothing.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if (reservation.plate, reservation.plate_state) == (plate, plate_state):
            return reservation
        if reservation.status not in HOLDING_STATUSES:
            raise ConflictError(
                f"A reservation that is {reservation.status} cannot change.", field="plate"
            )
        now = timezone.now()
        if reservation.end_time <= now:
            raise ConflictError("This reservation has already run out.", field="plate")
        if reservation.plate and reservation.start_time <= now:
            raise ConflictError(
                f"The plate can be changed until the stay starts, and this one started at "
                f"{format_local_time(reservation.start_time)} for {reservation.plate} "
                f"({reservation.plate_state}): an agent may have checked it since. End this "
                "reservation and book again for another car.",
                field="plate",
            )
        reservation.plate, reservation.plate_state = plate, plate_state
        reservation.save(update_fields=["plate", "plate_state", "updated_at"])
        if reservation.status == S.ACTIVE:
            reservation_email_queue(kind="plate", reservation=reservation)
    return reservation


def reservation_mark_paid(*, reservation_id: int) -> Reservation:
    """The bill is taken (payments records how); from `ended`, or `payment_failed` settled."""
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status == S.PAID:
            return reservation
        _transition(reservation, S.PAID)
        reservation.save(update_fields=["status", "updated_at"])
    return reservation


def reservation_mark_payment_failed(*, reservation_id: int) -> Reservation:
    """The charge failed (payments records why); repeatable.

    The 'ended' e-mail, which carries the receipt (payment data), is payments' to send with
    the charge's first outcome, whichever it is.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status == S.PAYMENT_FAILED:
            return reservation
        _transition(reservation, S.PAYMENT_FAILED)
        reservation.save(update_fields=["status", "updated_at"])
    return reservation


def reservation_link_opened(*, reservation: Reservation) -> None:
    """A valid manage link of a guest e-mail was used: its holder reads that mailbox.

    The e-mail is proven from now on, and this reservation is one its owner has seen, so
    its bill (if one goes unpaid) stands against that e-mail (`reservation_unpaid_blocking`).
    """
    with transaction.atomic():
        email_mark_proven(email=reservation.email)
        Reservation.objects.filter(pk=reservation.pk, email_proven_at__isnull=True).update(
            email_proven_at=timezone.now()
        )


def idempotent_request_claim(
    *, caller: str, key: str, request_sha256: str
) -> IdempotentRequest | None:
    """Claim `key` for a request about to run (None), or the stored row of its first use.

    The claim is committed before the request runs, so a concurrent twin finds it (the
    unique constraint makes one of two simultaneous claims wait, then see the other's).
    A key older than a day, or whose request was abandoned mid-way, is free again.
    """
    now = timezone.now()
    expired = Q(created_at__lte=now - IDEMPOTENCY_TTL)
    abandoned = Q(status_code__isnull=True, created_at__lte=now - IDEMPOTENCY_IN_FLIGHT_LAPSE)
    with transaction.atomic():
        IdempotentRequest.objects.filter(expired | abandoned, caller=caller, key=key).delete()
        IdempotentRequest.objects.filter(
            pk__in=IdempotentRequest.objects.filter(expired).values("pk")[:IDEMPOTENCY_PURGE_BATCH]
        ).delete()
        stored, created = IdempotentRequest.objects.get_or_create(
            caller=caller,
            key=key,
            defaults={"request_sha256": request_sha256, "created_at": now},
        )
    if created:
        return None
    if stored.request_sha256 != request_sha256:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for another request (another route or body): "
            "send a new key with each new request.",
            field="Idempotency-Key",
        )
    if stored.status_code is None:
        raise ConflictError(
            "A request with this Idempotency-Key is still being processed: retry shortly."
        )
    return stored


def idempotent_request_finish(
    *, caller: str, key: str, status_code: int, response_body: str
) -> None:
    """Keep the answer of a claimed key, to replay it for the rest of the day."""
    IdempotentRequest.objects.filter(caller=caller, key=key, status_code__isnull=True).update(
        status_code=status_code, response_body=response_body
    )


def idempotent_request_release(*, caller: str, key: str) -> None:
    """Free a claimed key whose request failed on our side (a 5xx): a retry runs again."""
    IdempotentRequest.objects.filter(caller=caller, key=key, status_code__isnull=True).delete()
