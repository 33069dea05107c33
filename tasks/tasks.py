"""Celery tasks: thin wrappers around services. They take ids, never instances.

The charge retries errors that may pass (payment provider unreachable) with exponential
backoff and jitter; an e-mail's retries are the outbox's own (outbox/services.py), kept in
the database so that they survive restarts. Everything else fails loudly and the beat's next
claim, after its timeout, tries the row again.
"""

from celery import shared_task

from outbox.services import email_send as outbox_email_send
from payments.exceptions import PaymentProviderUnavailable
from reservations.services import reservation_expire_hold as expire_hold
from tasks import services

RETRY = {
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="tasks.dispatch_due_work")
def dispatch_due_work() -> dict[str, int]:
    summary = services.due_work_dispatch()
    return {name: len(ids) for name, ids in vars(summary).items()}


@shared_task(name="tasks.reservation_finish", autoretry_for=(PaymentProviderUnavailable,), **RETRY)
def reservation_finish(reservation_id: int) -> str:
    return services.reservation_finish(reservation_id=reservation_id).status


@shared_task(name="tasks.reservation_expire_hold")
def reservation_expire_hold(reservation_id: int) -> bool:
    return expire_hold(reservation_id=reservation_id)


@shared_task(name="tasks.email_send")
def email_send(email_id: int) -> bool:
    return outbox_email_send(email_id=email_id)


def email_send_enqueue(*, email_id: int, **_signal_kwargs: object) -> None:
    """Receives `outbox.services.email_queued` (connected in TasksConfig.ready)."""
    email_send.delay(email_id)
