"""End-of-reservation work, scheduled by the database rather than the broker.

The beat task claims due rows with SELECT ... FOR UPDATE SKIP LOCKED and enqueues one task
per row after commit. Nothing is revoked when an end time moves: every task re-reads its
reservation under lock and does nothing unless the work is due and not yet done, so late,
early, duplicated and redelivered messages are all harmless. A claim only spares the broker
repeats; one that is never finished (worker died, message lost) lapses and is claimed again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_end
from secure_my_spot.db import after_commit

logger = logging.getLogger(__name__)

S = ReservationStatus


@dataclass(frozen=True)
class DispatchSummary:
    finish: list[int]
    expire: list[int]
    remind: list[int]


def _claim(rows: QuerySet[Reservation], *, field: str, now: datetime) -> list[int]:
    """Lock the due rows nobody else is claiming, stamp them, and return their ids."""
    ids = list(
        rows.select_for_update(skip_locked=True)
        .order_by("pk")
        .values_list("pk", flat=True)[: settings.DUE_WORK_BATCH_SIZE]
    )
    if ids:
        Reservation.objects.filter(pk__in=ids).update(**{field: now})
    return ids


def _enqueue_each(*, task_name: str, ids: list[int], etas: dict[int, datetime]) -> None:
    from tasks import tasks

    task = getattr(tasks, task_name)
    for reservation_id in ids:
        task.apply_async((reservation_id,), eta=etas.get(reservation_id))


def _due_later(ids: list[int], *, moment: str, now: datetime) -> dict[int, datetime]:
    """The claimed rows whose `moment` is still ahead (within this interval): run them then."""
    later = Reservation.objects.filter(pk__in=ids, **{f"{moment}__gt": now})
    return dict(later.values_list("pk", moment))


def due_work_dispatch(*, now: datetime | None = None) -> DispatchSummary:
    """Claim what is due before the next beat and enqueue it once the claim is committed.

    Work due within the interval is queued with that moment as its ETA (seconds ahead, never
    hours), so a reservation ends on time rather than up to an interval late.
    """
    now = now or timezone.now()
    horizon = now + timedelta(seconds=settings.DUE_WORK_INTERVAL_SECONDS)
    lapsed = now - timedelta(seconds=settings.DUE_WORK_CLAIM_TIMEOUT_SECONDS)
    unclaimed = Q(work_claimed_at__isnull=True) | Q(work_claimed_at__lt=lapsed)
    finish_due = (
        Q(status=S.ACTIVE, end_time__lte=horizon)
        | Q(status=S.ENDED)
        | Q(status__in=[S.PAID, S.PAYMENT_FAILED], ended_email_sent_at__isnull=True)
    )
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
        remind = _claim_reminders(now=now)
        batches = (
            ("reservation_finish", finish, _due_later(finish, moment="end_time", now=now)),
            (
                "reservation_expire_hold",
                expire,
                _due_later(expire, moment="hold_expires_at", now=now),
            ),
            ("reservation_send_reminder", remind, {}),
        )
        # Robust: a broker hiccup in one batch must not drop the others (reminders, claimed
        # for good, would be lost).
        for task_name, ids, etas in batches:
            after_commit(_enqueue_each, task_name=task_name, ids=ids, etas=etas)
    if finish or expire or remind:
        logger.info(
            "dispatched finish=%d expire=%d remind=%d", len(finish), len(expire), len(remind)
        )
    return DispatchSummary(finish=finish, expire=expire, remind=remind)


def _claim_reminders(*, now: datetime) -> list[int]:
    """A reminder is claimed by stamping `reminder_sent_at`: at most one per reservation."""
    minutes = settings.RESERVATION_REMINDER_MINUTES
    if minutes <= 0:
        return []
    return _claim(
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


def reservation_finish(*, reservation_id: int, enqueue_email: Callable[[int], None]) -> Reservation:
    """End (if due), charge (once), then hand the 'ended' e-mail to its own retried task.

    A retryable payment error propagates so the task retries the charge; the e-mail is only
    enqueued once the charge has an outcome, and its failure never reaches the charge.
    """
    from payments.services import payment_charge_reservation

    reservation = reservation_end(reservation_id=reservation_id)
    if reservation.status in (S.PENDING_PAYMENT, S.ACTIVE, S.CANCELLED):
        return reservation
    if reservation.status == S.ENDED:
        reservation = payment_charge_reservation(reservation_id=reservation_id)
    if reservation.status in (S.PAID, S.PAYMENT_FAILED) and reservation.ended_email_sent_at is None:
        enqueue_email(reservation_id)
    return reservation
