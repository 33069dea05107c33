"""Celery tasks: thin, retried wrappers around services. They take ids, never instances.

Retries are for errors that may pass (payment provider or mail server unreachable), with
exponential backoff and jitter; everything else fails loudly and the beat's next claim,
after its timeout, tries the row again.
"""

from smtplib import SMTPException

from celery import shared_task

from payments.exceptions import PaymentProviderUnavailable
from reservations.services import (
    reservation_expire_hold as expire_hold,
)
from reservations.services import (
    reservation_send_ended_email,
    reservation_send_reminder_email,
)
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
    reservation = services.reservation_finish(
        reservation_id=reservation_id, enqueue_email=reservation_send_ended.delay
    )
    return reservation.status


@shared_task(name="tasks.reservation_send_ended", autoretry_for=(SMTPException, OSError), **RETRY)
def reservation_send_ended(reservation_id: int) -> bool:
    return reservation_send_ended_email(reservation_id=reservation_id)


@shared_task(name="tasks.reservation_expire_hold")
def reservation_expire_hold(reservation_id: int) -> bool:
    return expire_hold(reservation_id=reservation_id)


@shared_task(
    name="tasks.reservation_send_reminder", autoretry_for=(SMTPException, OSError), **RETRY
)
def reservation_send_reminder(reservation_id: int) -> bool:
    return reservation_send_reminder_email(reservation_id=reservation_id)
