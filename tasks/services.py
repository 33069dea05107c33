"""Due work (reservations to end and charge, holds to cancel, reminders, unsent e-mail),
scheduled by the database rather than the broker.

The beat task claims due rows with SELECT ... FOR UPDATE SKIP LOCKED and enqueues one task
per row after commit. Nothing is revoked when an end time moves: every task re-reads its
reservation under lock and does nothing unless the work is due and not yet done, so late,
early, duplicated and redelivered messages are all harmless. A claim only spares the broker
repeats; one that is never finished (worker died, message lost) lapses and is claimed again.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from outbox.services import email_claim_due, email_purge_sent
from payments.services import payment_charge_reservation
from reservations.emails import reservation_email_queue
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
    email: list[int]


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
        emails = email_claim_due(now=now)
        email_purge_sent(now=now)
        batches = (
            ("reservation_finish", finish, _due_later(finish, moment="end_time", now=now)),
            (
                "reservation_expire_hold",
                expire,
                _due_later(expire, moment="hold_expires_at", now=now),
            ),
            ("email_send", emails, {}),
        )
        # Robust: a broker hiccup in one batch must not drop the others.
        for task_name, ids, etas in batches:
            after_commit(_enqueue_each, task_name=task_name, ids=ids, etas=etas)
    summary = DispatchSummary(finish=finish, expire=expire, remind=remind, email=emails)
    if any(vars(summary).values()):
        logger.info(
            "dispatched %s", " ".join(f"{name}={len(ids)}" for name, ids in vars(summary).items())
        )
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


def reservation_finish(*, reservation_id: int) -> Reservation:
    """End (if due), then charge (once). The charge's outcome queues the 'ended' e-mail.

    A retryable payment error propagates so the task retries the charge.
    """
    reservation = reservation_end(reservation_id=reservation_id)
    if reservation.status == S.ENDED:
        reservation = payment_charge_reservation(reservation_id=reservation_id)
    return reservation
