"""The reservation e-mails: what each says, and that each state change queues it once."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from outbox.models import OutboundEmail
from reservations.emails import reservation_email_queue
from reservations.models import ReservationStatus as S
from reservations.services import (
    reservation_activate,
    reservation_mark_paid,
    reservation_mark_payment_failed,
)
from testing.factories import ReservationFactory

pytestmark = pytest.mark.django_db


def test_reminder_says_when_and_how_to_extend(outbox):
    reservation = ReservationFactory(start_time=timezone.now() - timedelta(minutes=55))

    reservation_email_queue(kind="reminder", reservation=reservation)

    [mail] = outbox.deliver()
    assert mail.subject == "Your parking reservation ends soon"
    assert "later end time" in mail.body and "http" not in mail.body
    assert " EST" in mail.body or " EDT" in mail.body


def test_a_reminder_the_mail_server_held_past_the_end_is_never_sent(outbox, mail_server_down):
    reservation = ReservationFactory(start_time=timezone.now() - timedelta(minutes=55))
    reservation_email_queue(kind="reminder", reservation=reservation)
    [email] = OutboundEmail.objects.filter(kind="reminder")
    assert email.stale_at == reservation.end_time
    assert outbox.deliver() == []  # the mail server is down

    OutboundEmail.objects.filter(pk=email.pk).update(stale_at=timezone.now())
    assert outbox.deliver() == []
    email.refresh_from_db()
    assert (email.sent_at, email.next_attempt_at) == (None, None)
    assert email.last_error.startswith("Dropped unsent")


def test_the_bills_outcome_queues_no_mail_here(outbox):
    """The 'ended' e-mail carries the receipt, payment data: payments queues it with the
    charge's outcome (tests/payments/test_receipts.py)."""
    paid, failed = (
        ReservationFactory(status=S.ENDED, start_time=timezone.now() - timedelta(hours=2))
        for _ in range(2)
    )

    reservation_mark_paid(reservation_id=paid.pk)
    reservation_mark_payment_failed(reservation_id=failed.pk)

    assert outbox.deliver() == []


def test_activation_queues_the_confirmation_once(outbox):
    reservation = ReservationFactory(
        status=S.PENDING_PAYMENT, hold_expires_at=timezone.now() + timedelta(minutes=5)
    )

    for _ in range(2):
        reservation_activate(reservation_id=reservation.pk, card_last4="4242")

    assert OutboundEmail.objects.filter(to=reservation.email).count() == 1
    [mail] = outbox.deliver()
    assert mail.subject == "Your parking reservation is confirmed"


def test_a_rolled_back_change_queues_nothing(outbox):
    reservation = ReservationFactory(
        status=S.PENDING_PAYMENT, hold_expires_at=timezone.now() + timedelta(minutes=5)
    )

    with pytest.raises(RuntimeError), transaction.atomic():
        reservation_activate(reservation_id=reservation.pk, card_last4="4242")
        raise RuntimeError("rolled back")

    assert OutboundEmail.objects.count() == 0
    assert outbox.deliver() == []
