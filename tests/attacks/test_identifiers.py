"""Attacks on reservations through what a stranger can know or guess: ids, e-mails, links,
and payments made in Stripe to settle someone else's bill.

Before issue 12 each one worked: ids were a counter, so a victim's guest reservation was a
few guesses away from the attacker's own; a signed webhook for any PaymentIntent whose
metadata named a reservation settled it.
"""

import logging
import re
import secrets
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from payments import gateway
from payments.models import StripeWebhookEvent
from payments.services.charges import payment_charge_reservation
from payments.services.common import payment_metadata
from reservations.links import reservation_link_token
from reservations.models import Reservation, ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory, UserFactory
from testing.localstripe import CARD_DECLINED_ON_CHARGE, CARD_OK
from tests.payments.conftest import (  # noqa: F401 - the fixture
    ended_reservation,
    payments_of,
    unique_email,
)
from tests.payments.test_webhooks import deliver, event

pytestmark = pytest.mark.django_db
S = ReservationStatus
VICTIM = "victim@example.com"
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{22}")


def book_guest(client: APIClient, email: str) -> dict:
    body = {"reservation": {"email": email, "reservation_length": 60}}
    response = client.post(f"/reservation-unauth/{ParkingSpotFactory().pk}/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def guesses(victim: Reservation, attackers_id: str) -> list[str]:
    """What an attacker tries: the old integer ids around the victim's row, the attacker's
    own id with one character changed, and random ids of the right shape."""
    near = [str(victim.pk + step) for step in range(-3, 4)]
    tweaked = [attackers_id[:-1] + char for char in "AQgw-_" if char != attackers_id[-1]]
    return near + tweaked + [secrets.token_urlsafe(16) for _ in range(5)]


def test_a_guest_reservation_cannot_be_found_by_trying_neighbouring_ids():
    client = APIClient()
    victims = book_guest(client, VICTIM)
    attackers = book_guest(client, "attacker@example.com")
    victim = Reservation.objects.get(public_id=victims["id"])

    found = [
        guess
        for guess in guesses(victim, attackers["id"])
        if client.get(f"/reservation-unauth/{guess}/{VICTIM}/").status_code != 404
    ]

    assert found == []
    assert PUBLIC_ID.fullmatch(victims["id"]) and PUBLIC_ID.fullmatch(attackers["id"])
    assert victims["id"] not in (str(victim.pk), attackers["id"])
    # The right pair still works, so the 404s above are the guesses' fault, not the route's.
    assert client.get(f"/reservation-unauth/{victims['id']}/{VICTIM}/").status_code == 200


@pytest.mark.parametrize("attack", ["extend", "end", "cancel"])
def test_another_persons_guest_reservation_cannot_be_changed_with_their_email(attack):
    status = S.PENDING_PAYMENT if attack == "cancel" else S.ACTIVE
    victim = ReservationFactory(status=status, email=VICTIM, user=None)
    attackers = book_guest(APIClient(), "attacker@example.com")
    later = (victim.end_time + timedelta(hours=2)).isoformat()
    client = APIClient()

    def attempt(guess: str):
        if attack == "cancel":
            return client.delete(f"/delete-reservation-unauth/{guess}/{VICTIM}/")
        body = {"reservation": {"end_time": later if attack == "extend" else None}}
        return client.patch(f"/update-reservation-unauth/{guess}/{VICTIM}/", body, format="json")

    codes = {attempt(guess).status_code for guess in guesses(victim, attackers["id"])}

    assert codes == {404}
    unchanged = Reservation.objects.get(pk=victim.pk)
    assert (unchanged.status, unchanged.end_time, unchanged.amount_cents) == (
        status,
        victim.end_time,
        None,
    )


def foreign_payment_intent(localstripe, *, amount_cents: int, metadata: dict) -> str:
    """A PaymentIntent the attacker makes with their own Stripe customer and card."""
    customer_id = gateway.customer_create(email=unique_email(), idempotency_key=uuid.uuid4().hex)
    setup_intent = gateway.setup_intent_create(
        customer_id=customer_id, metadata={}, idempotency_key=uuid.uuid4().hex
    )
    localstripe.confirm_card_setup(setup_intent.client_secret, CARD_OK)
    card = gateway.setup_intent_retrieve(setup_intent_id=setup_intent.id).payment_method_id
    charge = gateway.payment_intent_charge_off_session(
        customer_id=customer_id,
        payment_method_id=card,
        amount_cents=amount_cents,
        metadata=metadata,
        idempotency_key=uuid.uuid4().hex,
    )
    assert charge.succeeded
    return charge.payment_intent_id


@pytest.mark.parametrize("amount", ["one cent", "the exact bill"])
def test_a_foreign_payment_intent_does_not_settle_someone_elses_debt(
    localstripe,
    ended_reservation,  # noqa: F811 - the fixture imported above
    amount,
    caplog,
):
    victim = payment_charge_reservation(
        reservation_id=ended_reservation(CARD_DECLINED_ON_CHARGE).pk
    )
    assert victim.status == S.PAYMENT_FAILED
    payment_intent_id = foreign_payment_intent(
        localstripe,
        amount_cents=1 if amount == "one cent" else victim.amount_cents,
        # Metadata is the attacker's to write: it may name anything, our tag included.
        metadata={"reservation": victim.public_id, "deployment": settings.DEPLOYMENT_TAG},
    )

    with caplog.at_level(logging.WARNING, logger="payments.services"):
        response = deliver(event("payment_intent.succeeded", payment_intent_id))

    assert response.status_code == 200
    after = Reservation.objects.get(pk=victim.pk)
    assert after.status == S.PAYMENT_FAILED
    assert payment_intent_id not in [p.stripe_payment_intent_id for p in payments_of(victim)]
    assert StripeWebhookEvent.objects.get().processed_at is not None
    assert any(
        record.levelno == logging.WARNING and "is not the reservation's" in record.getMessage()
        for record in caplog.records
    )


def test_a_payment_intent_of_another_deployment_is_ignored(
    localstripe,
    ended_reservation,  # noqa: F811 - the fixture imported above
    caplog,
):
    """Same customer, card, amount and reservation: only the deployment tag differs, as when
    staging and production share one Stripe account."""
    reservation = ended_reservation(CARD_OK)
    metadata = {**payment_metadata(reservation=reservation), "deployment": "other-deploy"}
    theirs = gateway.payment_intent_charge_off_session(
        customer_id=reservation.stripe_customer_id,
        payment_method_id=reservation.stripe_payment_method_id,
        amount_cents=reservation.amount_cents,
        metadata=metadata,
        idempotency_key=uuid.uuid4().hex,
    )

    with caplog.at_level(logging.WARNING, logger="payments.services"):
        response = deliver(event("payment_intent.succeeded", theirs.payment_intent_id))

    assert response.status_code == 200
    after = Reservation.objects.get(pk=reservation.pk)
    assert (after.status, payments_of(after)) == (S.ENDED, [])
    assert any("another deployment" in record.getMessage() for record in caplog.records)


@pytest.fixture
def guest_reservation() -> Reservation:
    return ReservationFactory(status=S.ACTIVE, email=VICTIM, user=None)


def test_a_tampered_manage_link_is_404(guest_reservation):
    token = reservation_link_token(reservation=guest_reservation)
    public_id, stamp, signature = token.split(":")
    other = ReservationFactory(status=S.ACTIVE, email=VICTIM, user=None)
    owned = ReservationFactory(status=S.ACTIVE, user=UserFactory())
    tampered = [
        f"{public_id}:{stamp}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{other.public_id}:{stamp}:{signature}",
        f"{public_id}:{stamp}",
        public_id,
        f"{public_id}:{stamp}:{signature}:{signature}",
        # Signed correctly, but for an account's reservation: accounts sign in instead.
        reservation_link_token(reservation=owned),
        secrets.token_urlsafe(40),
        "x" * 201,
    ]

    responses = [APIClient().get(f"/reservation-link/{token}/") for token in tampered]

    assert [response.status_code for response in responses] == [404] * len(tampered)
    assert all(response.json().get("detail") for response in responses)


def test_an_expired_manage_link_is_404_like_a_tampered_one(guest_reservation, settings):
    settings.RESERVATION_LINK_MAX_AGE_DAYS = 1 / 86400  # a second
    token = reservation_link_token(reservation=guest_reservation)
    time.sleep(2.1)

    expired = APIClient().get(f"/reservation-link/{token}/")
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    tampered = APIClient().get(f"/reservation-link/{flipped}/")

    assert (expired.status_code, tampered.status_code) == (404, 404)
    assert expired.json() == tampered.json()
    settings.RESERVATION_LINK_MAX_AGE_DAYS = 30
    assert APIClient().get(f"/reservation-link/{token}/").status_code == 200


@pytest.mark.parametrize("slash", ["/", ""])
def test_a_valid_manage_link_returns_the_reservation(guest_reservation, slash):
    token = reservation_link_token(reservation=guest_reservation)

    response = APIClient().get(f"/reservation-link/{token}{slash}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["email"], body["status"]) == (
        guest_reservation.public_id,
        VICTIM,
        S.ACTIVE,
    )
    # What the page then does with it: the guest routes, by the id and e-mail it got.
    follow_up = APIClient().get(f"/reservation-unauth/{body['id']}/{body['email']}/")
    assert follow_up.status_code == 200
