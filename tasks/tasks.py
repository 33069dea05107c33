"""Celery tasks: thin wrappers around services. They take ids, never instances.

The charge retries errors that may pass (payment provider unreachable) with exponential
backoff and jitter; an e-mail's retries are the outbox's own (outbox/services.py), kept in
the database so that they survive restarts. Everything else fails loudly and the beat's next
claim, after its timeout, tries the row again.
"""

import logging
from datetime import datetime

from celery import Task, shared_task
from kombu.exceptions import OperationalError as BrokerError

from outbox.services import email_send as outbox_email_send
from payments.exceptions import PaymentProviderUnavailable
from reservations.services import reservation_expire_hold as expire_hold
from tasks import services

logger = logging.getLogger(__name__)

RETRY = {
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="tasks.reservation_finish", autoretry_for=(PaymentProviderUnavailable,), **RETRY)
def reservation_finish(reservation_id: int) -> str:
    return services.reservation_finish(reservation_id=reservation_id).status


@shared_task(name="tasks.reservation_expire_hold")
def reservation_expire_hold(reservation_id: int) -> bool:
    return expire_hold(reservation_id=reservation_id)


@shared_task(name="tasks.email_send")
def email_send(email_id: int) -> bool:
    return outbox_email_send(email_id=email_id)


# The task names of the code before the outbox, kept for one release (see
# services.reservation_email_catch_up); nothing enqueues them any more.
@shared_task(name="tasks.reservation_send_ended")
def reservation_send_ended(reservation_id: int) -> bool:
    return services.reservation_email_catch_up(reservation_id=reservation_id, kind="ended")


@shared_task(name="tasks.reservation_send_reminder")
def reservation_send_reminder(reservation_id: int) -> bool:
    return services.reservation_email_catch_up(reservation_id=reservation_id, kind="reminder")


def _enqueue_each(task: Task, ids: list[int], etas: dict[int, datetime]) -> None:
    """A broker hiccup in one batch must not drop the others; what it drops, the claims'
    lapse brings back."""
    try:
        for pk in ids:
            task.apply_async((pk,), eta=etas.get(pk))
    except BrokerError:
        logger.exception("Enqueueing %s failed; the sweep queues it again", task.name)


def due_work_enqueue(summary: services.DispatchSummary) -> None:
    """One task per claimed row; call it once the claims are committed."""
    _enqueue_each(reservation_finish, summary.finish, summary.etas)
    _enqueue_each(reservation_expire_hold, summary.expire, summary.etas)
    _enqueue_each(email_send, summary.email, {})


@shared_task(name="tasks.dispatch_due_work")
def dispatch_due_work() -> dict[str, int]:
    summary = services.due_work_dispatch()
    due_work_enqueue(summary)
    return summary.counts()


def email_send_enqueue(*, email_id: int, **_signal_kwargs: object) -> None:
    """Receives `outbox.signals.email_queued` (connected in TasksConfig.ready)."""
    email_send.delay(email_id)


def reservation_finish_enqueue(*, reservation_id: int, **_signal_kwargs: object) -> None:
    """Receives `reservations.signals.reservation_ended` (connected in TasksConfig.ready)."""
    reservation_finish.delay(reservation_id)
