"""What /metrics reads at scrape time about the workers' backlog (registered in apps.py)."""

from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone

from reservations.models import Reservation, ReservationStatus

S = ReservationStatus
# A scrape must not wait on a stalled broker: past this its figure is left out.
BROKER_TIMEOUT_SECONDS = 1.0
QUEUE_NOT_FOUND = 404  # AMQP reply code


def due_work_lag_seconds(*, now: datetime | None = None) -> float:
    """How long the oldest due reservation (to end and charge, or whose hold ran out) has
    waited without a live claim; 0 when nothing waits. Growing means the beat or the workers
    are not keeping up (or not running)."""
    now = now or timezone.now()
    lapsed = now - timedelta(seconds=settings.DUE_WORK_CLAIM_TIMEOUT_SECONDS)
    unclaimed = Reservation.objects.filter(
        Q(work_claimed_at__isnull=True) | Q(work_claimed_at__lt=lapsed)
    )
    oldest = [
        unclaimed.filter(status__in=(S.ACTIVE, S.ENDED), end_time__lte=now).aggregate(
            moment=Min("end_time")
        )["moment"],
        unclaimed.filter(status=S.PENDING_PAYMENT, hold_expires_at__lte=now).aggregate(
            moment=Min("hold_expires_at")
        )["moment"],
    ]
    waiting = [moment for moment in oldest if moment is not None]
    return max((now - min(waiting)).total_seconds(), 0.0) if waiting else 0.0


def task_queue_depth() -> int:
    """Messages ready in the tasks' queue (a passive declare: never creates it; a queue not
    declared yet holds none)."""
    app = current_app
    with app.connection_for_read(connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_SECONDS)
        try:
            _name, messages, _consumers = conn.default_channel.queue_declare(
                queue=app.conf.task_default_queue, passive=True
            )
        except conn.channel_errors as exc:
            if getattr(exc, "code", None) == QUEUE_NOT_FOUND:
                return 0
            raise
        return messages
