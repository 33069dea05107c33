import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db.models import F
from rest_framework.test import APIClient

from payments import gateway
from payments.models import Payment
from payments.services.cards import payment_setup_confirm, payment_setup_intent_get_or_create
from reservations.models import Reservation
from reservations.services import reservation_create, reservation_end, reservation_end_now
from testing.factories import PASSWORD, ParkingSpotFactory
from testing.localstripe import LocalStripe


def unique_email() -> str:
    return f"Driver-{uuid.uuid4().hex[:12]}@Example.com"


@pytest.fixture
def customer_id(localstripe: LocalStripe) -> str:
    return gateway.customer_create(email=unique_email(), idempotency_key=uuid.uuid4().hex)


@pytest.fixture
def saved_card(
    localstripe: LocalStripe, customer_id: str
) -> Callable[[str], gateway.SetupIntentInfo]:
    """Save a test card the way the app will: SetupIntent here, confirmation in the browser."""

    def save(card_number: str) -> gateway.SetupIntentInfo:
        setup_intent = gateway.setup_intent_create(
            customer_id=customer_id, metadata={}, idempotency_key=uuid.uuid4().hex
        )
        localstripe.confirm_card_setup(setup_intent.client_secret, card_number)
        return gateway.setup_intent_retrieve(setup_intent_id=setup_intent.id)

    return save


def signed_in_as(user) -> APIClient:
    """Another signed-in client, for reservations that are someone else's."""
    client = APIClient()
    response = client.post(
        "/sign-in/", {"credentials": {"email": user.email, "password": PASSWORD}}, format="json"
    )
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    client.email = user.email
    return client


@pytest.fixture
def ended_reservation(localstripe: LocalStripe) -> Callable[..., Reservation]:
    """A reservation booked, its card saved with Stripe and confirmed, and ended `minutes` in:
    what the charge meets. Through the services, so a test can run it in any transaction mode.
    """

    def make(card_number: str, *, user=None, email: str = "", minutes: int = 30) -> Reservation:
        reservation = reservation_create(
            spot_id=ParkingSpotFactory().pk,
            reservation_length=60,
            user=user,
            email=email or unique_email(),
        )
        client_secret = payment_setup_intent_get_or_create(reservation_id=reservation.pk)
        localstripe.confirm_card_setup(client_secret, card_number)
        payment_setup_confirm(reservation_id=reservation.pk)
        Reservation.objects.filter(pk=reservation.pk).update(
            start_time=F("start_time") - timedelta(minutes=minutes)
        )
        reservation_end_now(reservation_id=reservation.pk)
        return reservation_end(reservation_id=reservation.pk)

    return make


def payments_of(reservation) -> list[Payment]:
    """The reservation's charge attempts, oldest first."""
    return list(Payment.objects.filter(reservation_id=reservation.pk).order_by("attempt"))


def recorded_payment_intent(reservation) -> str:
    """The PaymentIntent of the latest attempt, empty when none was made."""
    payments = payments_of(reservation)
    return payments[-1].stripe_payment_intent_id if payments else ""
