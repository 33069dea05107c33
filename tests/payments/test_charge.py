"""The off-session charge at the end of a reservation: once, whatever happens around it."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from payments.emails import SUBJECT as PAYMENT_FAILED_SUBJECT
from payments.exceptions import PaymentProviderUnavailable
from payments.models import Payment, PaymentState
from payments.services.charges import payment_charge_reservation
from reservations.models import Reservation, ReservationStatus
from reservations.pricing import FLAT_METER_HOURS
from reservations.services import reservation_link_opened
from secure_my_spot.exceptions import ConflictError
from testing.factories import ParkingSpotFactory
from testing.localstripe import CARD_ALWAYS_AUTHENTICATE, CARD_DECLINED_ON_CHARGE, CARD_OK
from tests.payments.conftest import payments_of, recorded_payment_intent

S = ReservationStatus


def without_card(status: str, amount_cents: int | None = 450) -> Reservation:
    """A reservation written straight to the table in `status`, no card saved with it."""
    now = timezone.now()
    billed = status in (S.ENDED, S.PAID, S.PAYMENT_FAILED)
    return Reservation.objects.create(
        spot=ParkingSpotFactory(),
        email="nocard@example.com",
        rate="4.50",
        first_hour_cents=450,
        later_hour_cents=450,
        meter_hours=FLAT_METER_HOURS,
        start_time=now,
        end_time=now + timedelta(hours=1),
        status=status,
        hold_expires_at=now + timedelta(minutes=10) if status == S.PENDING_PAYMENT else None,
        ended_at=now + timedelta(hours=1) if billed else None,
        amount_cents=amount_cents if billed else None,
    )


def payment_failed_emails(outbox) -> list:
    return [message for message in outbox.deliver() if message.subject == PAYMENT_FAILED_SUBJECT]


@pytest.mark.django_db
def test_charging_twice_makes_one_payment_intent(localstripe, ended_reservation):
    reservation = ended_reservation(CARD_OK, minutes=30)

    first = payment_charge_reservation(reservation_id=reservation.pk)
    second = payment_charge_reservation(reservation_id=reservation.pk)

    assert (first.status, second.status) == (S.PAID, S.PAID)
    [payment] = payments_of(reservation)
    assert (payment.attempt, payment.state) == (1, PaymentState.SUCCEEDED)
    [payment_intent] = localstripe.payment_intents(reservation.stripe_customer_id)
    assert payment_intent["id"] == payment.stripe_payment_intent_id
    # 31 started minutes of the factory spot's first hour, "elsewhere" at $1.50 an hour:
    # 77.5 cents, half up.
    assert (reservation.amount_cents, payment_intent["amount"]) == (78, 78)


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_make_one_payment_intent(localstripe, ended_reservation):
    reservation = ended_reservation(CARD_OK)
    callers = 4
    barrier = Barrier(callers)

    def charge(_: int) -> str:
        try:
            barrier.wait(timeout=10)
            return payment_charge_reservation(reservation_id=reservation.pk).status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=callers) as pool:
        statuses = list(pool.map(charge, range(callers)))

    assert statuses == [S.PAID] * callers
    reservation.refresh_from_db()
    payment_intents = localstripe.payment_intents(reservation.stripe_customer_id)
    assert [item["id"] for item in payment_intents] == [recorded_payment_intent(reservation)]
    assert len(payments_of(reservation)) == 1


@pytest.mark.django_db
def test_card_declined_when_charged_fails_the_payment_emails_and_blocks_booking(
    localstripe, ended_reservation, outbox, django_capture_on_commit_callbacks, settings
):
    reservation = ended_reservation(CARD_DECLINED_ON_CHARGE, email="Declined@Example.com")
    # The mailbox's owner opened the manage link: the bill is theirs (tests/attacks cover a
    # stranger's booking under their address).
    reservation_link_opened(reservation=reservation)

    with django_capture_on_commit_callbacks(execute=True):
        failed = payment_charge_reservation(reservation_id=reservation.pk)
    with django_capture_on_commit_callbacks(execute=True):
        again = payment_charge_reservation(reservation_id=reservation.pk)

    assert (failed.status, again.status) == (S.PAYMENT_FAILED, S.PAYMENT_FAILED)
    [payment] = payments_of(reservation)
    assert (payment.state, payment.error_code) == (PaymentState.FAILED, "card_declined")
    [email] = payment_failed_emails(outbox)
    assert email.to == ["declined@example.com"]
    assert email.reply_to == [settings.PAYMENTS_SUPPORT_EMAIL]
    assert "$0.78" in email.body and "ending in 0341" in email.body
    assert "How to settle it" in email.body
    assert "How to settle it" in email.alternatives[0][0]
    body = {"reservation": {"email": "DECLINED@example.com", "reservation_length": 30}}
    booking = APIClient().post(
        f"/reservation-unauth/{ParkingSpotFactory().pk}/", body, format="json"
    )
    assert booking.status_code == 409
    assert "cannot book as a guest" in booking.json()["detail"]


@pytest.mark.django_db
def test_card_that_needs_authentication_fails_the_payment_and_blocks_the_account(
    localstripe,
    ended_reservation,
    signed_in,
    user,
    outbox,
    django_capture_on_commit_callbacks,
):
    reservation = ended_reservation(CARD_ALWAYS_AUTHENTICATE, user=user)

    with django_capture_on_commit_callbacks(execute=True):
        failed = payment_charge_reservation(reservation_id=reservation.pk)
        payment_charge_reservation(reservation_id=reservation.pk)

    assert failed.status == S.PAYMENT_FAILED
    [payment] = payments_of(reservation)
    assert payment.error_code == "authentication_required"
    [payment_intent] = localstripe.payment_intents(reservation.stripe_customer_id)
    assert payment_intent["id"] == payment.stripe_payment_intent_id
    assert payment_intent["status"] != "succeeded"
    [email] = payment_failed_emails(outbox)
    assert email.to == [user.email]
    assert "approve the payment" in email.body
    booking = signed_in.post(
        f"/reservation-auth/{ParkingSpotFactory().pk}/",
        {"reservation": {"reservation_length": 30}},
        format="json",
    )
    assert booking.status_code == 409
    assert "unpaid" in booking.json()["detail"]


@pytest.mark.django_db
def test_stripe_down_mid_flow_is_retryable_and_the_charge_happens_once_after(
    localstripe, ended_reservation, settings
):
    reservation = ended_reservation(CARD_OK)
    settings.STRIPE_MAX_NETWORK_RETRIES = 0

    with localstripe.stopped():
        with pytest.raises(PaymentProviderUnavailable):
            payment_charge_reservation(reservation_id=reservation.pk)
        reservation.refresh_from_db()
        assert reservation.status == S.ENDED
        assert payments_of(reservation) == []

    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID
    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID
    assert len(localstripe.payment_intents(reservation.stripe_customer_id)) == 1


@pytest.mark.django_db
def test_zero_bill_is_paid_without_calling_stripe(settings):
    # No Stripe is configured at all: any call would raise.
    settings.STRIPE_SECRET_KEY = ""
    reservation = without_card(S.ENDED, amount_cents=0)

    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID


@pytest.mark.django_db
def test_ended_without_a_saved_card_is_a_failed_payment(outbox, django_capture_on_commit_callbacks):
    reservation = without_card(S.ENDED)

    with django_capture_on_commit_callbacks(execute=True):
        failed = payment_charge_reservation(reservation_id=reservation.pk)

    [payment] = payments_of(reservation)
    assert (failed.status, payment.error_code) == (S.PAYMENT_FAILED, "no_payment_method")
    assert len(payment_failed_emails(outbox)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [S.PENDING_PAYMENT, S.ACTIVE, S.CANCELLED])
def test_a_reservation_without_a_final_bill_is_not_charged(status):
    reservation = without_card(status)

    with pytest.raises(ConflictError):
        payment_charge_reservation(reservation_id=reservation.pk)

    assert Reservation.objects.get(pk=reservation.pk).status == status


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_down_does_not_undo_a_failed_charge(
    localstripe, ended_reservation, mail_server_down
):
    reservation = ended_reservation(CARD_DECLINED_ON_CHARGE)

    failed = payment_charge_reservation(reservation_id=reservation.pk)

    assert failed.status == S.PAYMENT_FAILED
    assert Reservation.objects.get(pk=reservation.pk).status == S.PAYMENT_FAILED


@pytest.mark.django_db
def test_the_database_refuses_a_second_successful_payment(localstripe, ended_reservation):
    reservation = ended_reservation(CARD_OK)
    payment_charge_reservation(reservation_id=reservation.pk)
    [paid] = payments_of(reservation)

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            reservation=reservation,
            attempt=paid.attempt + 1,
            amount_cents=paid.amount_cents,
            currency=paid.currency,
            state=PaymentState.SUCCEEDED,
        )
