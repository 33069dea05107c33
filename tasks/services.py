"""Due work (reservations to end and charge, holds to cancel, reminders, unsent e-mail),
scheduled by the database rather than the broker.

The beat task claims due rows with SELECT ... FOR UPDATE SKIP LOCKED, commits, then
enqueues one task per row (tasks/tasks.py). Nothing is revoked when an end time moves: every
task re-reads its reservation under lock and does nothing unless the work is due and not yet
done, so late, early, duplicated and redelivered messages are all harmless. A claim only
spares the broker repeats; one that is never finished (worker died, message lost) lapses and
is claimed again.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from enforcement.services import coverage_lookup_purge
from outbox.services import email_claim_due, email_purge_sent
from payments.emails import receipt_email_queue
from payments.services.charges import payment_charge_reservation
from reservations.emails import reservation_email_queue, reservation_email_queued
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_end
from secure_my_spot.locking import claim_rows

logger = logging.getLogger(__name__)

S = ReservationStatus


@dataclass(frozen=True)
class DispatchSummary:
    """What one sweep claimed: reservation ids (finish, expire, remind, start_remind),
    outbox ids (email), and the ETA of each reservation whose moment is still seconds ahead."""

    finish: list[int]
    expire: list[int]
    remind: list[int]
    email: list[int]
    etas: dict[int, datetime]
    start_remind: list[int]

    def counts(self) -> dict[str, int]:
        """How many of each kind, the kinds with none left out."""
        kinds = {
            "finish": self.finish,
            "expire": self.expire,
            "remind": self.remind,
            "start_remind": self.start_remind,
            "email": self.email,
        }
        return {kind: len(ids) for kind, ids in kinds.items() if ids}


def _claim(rows: QuerySet[Reservation], *, field: str, now: datetime) -> list[int]:
    """Lock the due rows nobody else is claiming, stamp them, and return their ids."""
    ids = claim_rows(rows.order_by("pk"), limit=settings.DUE_WORK_BATCH_SIZE)
    if ids:
        Reservation.objects.filter(pk__in=ids).update(**{field: now})
    return ids


def _due_later(ids: list[int], *, moment: str, now: datetime) -> dict[int, datetime]:
    """The claimed rows whose `moment` is still ahead (within this interval): run them then."""
    later = Reservation.objects.filter(pk__in=ids, **{f"{moment}__gt": now})
    return dict(later.values_list("pk", moment))


def due_work_dispatch(*, now: datetime | None = None) -> DispatchSummary:
    """Claim what is due before the next beat; the caller enqueues it (the claim is
    committed when this returns).

    Work due within the interval carries that moment as its ETA (seconds ahead, never
    hours), so a reservation ends on time rather than up to an interval late. Reminders
    and e-mails are queued in the outbox in the same transaction as their claim.
    """
    now = now or timezone.now()
    horizon = now + timedelta(seconds=settings.DUE_WORK_INTERVAL_SECONDS)
    lapsed = now - timedelta(seconds=settings.DUE_WORK_CLAIM_TIMEOUT_SECONDS)
    unclaimed = Q(work_claimed_at__isnull=True) | Q(work_claimed_at__lt=lapsed)
    finish_due = Q(status=S.ACTIVE, end_time__lte=horizon) | Q(status=S.ENDED)
    with transaction.atomic():
        finish = _claim(
            Reservation.objects.filter(finish_due & unclaimed), field="work_claimed_at", now=now
        )
        expire = _claim(
            Reservation.objects.filter(
                unclaimed, status=S.PENDING_PAYMENT, hold_expires_at__lte=horizon
            ),
            field="work_claimed_at",
            now=now,
        )
        remind = _queue_reminders(now=now)
        start_remind = _queue_start_reminders(now=now)
        emails = email_claim_due(now=now)
        email_purge_sent(now=now)
        coverage_lookup_purge(now=now)
        etas = {
            **_due_later(finish, moment="end_time", now=now),
            **_due_later(expire, moment="hold_expires_at", now=now),
        }
    summary = DispatchSummary(
        finish=finish,
        expire=expire,
        remind=remind,
        email=emails,
        etas=etas,
        start_remind=start_remind,
    )
    if summary.counts():
        logger.info("dispatched %s", " ".join(f"{k}={v}" for k, v in summary.counts().items()))
    return summary


def _queue_reminders(*, now: datetime) -> list[int]:
    """Queue the 'ends soon' e-mail of the reservations entering their last minutes.

    Stamping `reminder_sent_at` in the same transaction claims it: one per reservation.
    """
    minutes = settings.RESERVATION_REMINDER_MINUTES
    if minutes <= 0:
        return []
    ids = _claim(
        Reservation.objects.filter(
            status=S.ACTIVE,
            reminder_sent_at__isnull=True,
            end_time__gt=now,
            end_time__lte=now + timedelta(minutes=minutes),
            # Not for a stay shorter than the reminder window: it would arrive at booking.
            start_time__lte=now - timedelta(minutes=minutes),
        ),
        field="reminder_sent_at",
        now=now,
    )
    for reservation in Reservation.objects.filter(pk__in=ids).select_related("spot"):
        reservation_email_queue(kind="reminder", reservation=reservation)
    return ids


def _queue_start_reminders(*, now: datetime) -> list[int]:
    """Queue the 'starts soon' e-mail of the paid-for reservations whose start is near.

    Only for those booked further ahead than the reminder (one booked 10 minutes ahead has
    just been told). Once per reservation: the rows are claimed (skip locked) while their
    e-mail is queued, and one whose e-mail exists (its dedupe key) is not looked at again.
    The e-mail goes stale at the start.
    """
    minutes = settings.RESERVATION_START_REMINDER_MINUTES
    if minutes <= 0:
        return []
    lead = timedelta(minutes=minutes)
    due = Reservation.objects.filter(
        ~reservation_email_queued(kind="starting"),
        status=S.ACTIVE,
        start_time__gt=now,
        start_time__lte=now + lead,
        created_at__lte=F("start_time") - lead,
    )
    ids = claim_rows(due.order_by("pk"), limit=settings.DUE_WORK_BATCH_SIZE)
    for reservation in Reservation.objects.filter(pk__in=ids).select_related("spot"):
        reservation_email_queue(kind="starting", reservation=reservation)
    return ids


def reservation_finish(*, reservation_id: int) -> Reservation:
    """End (if due), then charge (once). The charge's outcome queues the 'ended' e-mail.

    A retryable payment error propagates so the task retries the charge.
    """
    reservation = reservation_end(reservation_id=reservation_id)
    if reservation.status == S.ENDED:
        reservation = payment_charge_reservation(reservation_id=reservation_id)
    return reservation


def reservation_email_catch_up(*, reservation_id: int, kind: str) -> bool:
    """Queue the e-mail a message of the code before the outbox asked for, if still true.

    For the task names that code used (tasks.py): messages it left in the broker at deploy
    are queued into the outbox instead of being discarded as unknown tasks.
    """
    reservation = Reservation.objects.select_related("spot").filter(pk=reservation_id).first()
    if reservation is None:
        return False
    if kind == "ended":
        if reservation.status not in (S.PAID, S.PAYMENT_FAILED):
            return False
        receipt_email_queue(reservation=reservation)
        return True
    if kind == "reminder" and (
        reservation.status != S.ACTIVE or reservation.end_time <= timezone.now()
    ):
        return False
    reservation_email_queue(kind=kind, reservation=reservation)
    return True
