"""The e-mails the workers send, rendered with locmem."""

from datetime import timedelta

import pytest
from django.utils import timezone

from reservations.models import Reservation
from reservations.models import ReservationStatus as S
from reservations.services import reservation_send_ended_email, reservation_send_reminder_email
from tests.factories import ReservationFactory

pytestmark = pytest.mark.django_db


def test_reminder_says_when_and_how_to_extend(mailoutbox):
    reservation = ReservationFactory(start_time=timezone.now() - timedelta(minutes=55))

    assert reservation_send_reminder_email(reservation_id=reservation.pk) is True

    [mail] = mailoutbox
    assert mail.subject == "Your parking reservation ends soon"
    assert "later end time" in mail.body and "http" not in mail.body
    assert " EST" in mail.body or " EDT" in mail.body


@pytest.mark.parametrize("status", [S.ENDED, S.PAID])
def test_no_reminder_once_the_reservation_is_over(mailoutbox, status):
    reservation = ReservationFactory(status=status, start_time=timezone.now() - timedelta(hours=2))

    assert reservation_send_reminder_email(reservation_id=reservation.pk) is False
    assert mailoutbox == []


def test_ended_mail_waits_for_the_charge_and_is_sent_once(mailoutbox):
    reservation = ReservationFactory(
        status=S.ENDED, card_last4="4242", start_time=timezone.now() - timedelta(hours=2)
    )
    assert reservation_send_ended_email(reservation_id=reservation.pk) is False

    Reservation.objects.filter(pk=reservation.pk).update(status=S.PAID)
    assert reservation_send_ended_email(reservation_id=reservation.pk) is True
    assert reservation_send_ended_email(reservation_id=reservation.pk) is False

    [mail] = mailoutbox
    assert "charged to the card ending in 4242" in mail.body
    reservation.refresh_from_db()
    assert reservation.ended_email_sent_at is not None


def test_ended_mail_of_a_failed_charge_points_to_the_settlement_mail(mailoutbox):
    reservation = ReservationFactory(
        status=S.PAYMENT_FAILED, card_last4="0341", start_time=timezone.now() - timedelta(hours=2)
    )

    assert reservation_send_ended_email(reservation_id=reservation.pk) is True

    assert "could not charge your card" in mailoutbox[0].body
    assert "ending in 0341" not in mailoutbox[0].body


def test_a_claim_left_by_a_dead_worker_lapses(mailoutbox, settings):
    reservation = ReservationFactory(status=S.PAID, start_time=timezone.now() - timedelta(hours=2))
    fresh = timezone.now()
    Reservation.objects.filter(pk=reservation.pk).update(ended_email_claimed_at=fresh)
    assert reservation_send_ended_email(reservation_id=reservation.pk) is False

    stale = fresh - timedelta(seconds=settings.DUE_WORK_CLAIM_TIMEOUT_SECONDS + 1)
    Reservation.objects.filter(pk=reservation.pk).update(ended_email_claimed_at=stale)
    assert reservation_send_ended_email(reservation_id=reservation.pk) is True
    assert len(mailoutbox) == 1


def test_a_failed_send_releases_its_claim(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    reservation = ReservationFactory(status=S.PAID, start_time=timezone.now() - timedelta(hours=2))

    with pytest.raises(OSError):
        reservation_send_ended_email(reservation_id=reservation.pk)

    reservation.refresh_from_db()
    assert reservation.ended_email_claimed_at is None
    assert reservation.ended_email_sent_at is None
