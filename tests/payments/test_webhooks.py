"""POST /stripe/webhook/: signed, deduplicated, and acting only on what Stripe says now."""

import json
import logging
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments import gateway
from payments.emails import SUBJECT as PAYMENT_FAILED_SUBJECT
from payments.exceptions import CardDeclined
from payments.models import StripeWebhookEvent
from payments.services.cards import payment_setup_intent_get_or_create
from payments.services.charges import payment_charge_reservation
from payments.services.common import payment_metadata
from reservations.emails import SUBJECTS
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_create
from testing.factories import ParkingSpotFactory
from testing.localstripe import CARD_ALWAYS_AUTHENTICATE, CARD_OK, stripe_signature
from tests.payments.conftest import payments_of, recorded_payment_intent, unique_email

pytestmark = pytest.mark.django_db
S = ReservationStatus
URL = "/stripe/webhook/"


def event(event_type: str, object_id: str, **object_fields) -> bytes:
    data_object = {"id": object_id, **object_fields}
    body = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type}
    return json.dumps({**body, "data": {"object": data_object}}).encode()


def deliver(payload: bytes, signature: str | None = None, path: str = URL):
    """As Stripe delivers: the raw JSON body and its Stripe-Signature header, no CSRF token."""
    return APIClient(enforce_csrf_checks=True).post(
        path,
        payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=stripe_signature(payload) if signature is None else signature,
    )


@pytest.fixture
def card_saved_but_not_confirmed(localstripe):
    """A pending reservation whose card the browser saved; its client never called confirm."""
    reservation = reservation_create(
        spot_id=ParkingSpotFactory().pk, reservation_length=60, email=unique_email()
    )
    client_secret = payment_setup_intent_get_or_create(reservation_id=reservation.pk)
    localstripe.confirm_card_setup(client_secret, CARD_OK)
    reservation.refresh_from_db()
    return reservation


def test_setup_intent_succeeded_activates_a_reservation_whose_client_never_confirmed(
    card_saved_but_not_confirmed, outbox, django_capture_on_commit_callbacks
):
    reservation = card_saved_but_not_confirmed
    # The payload's own state is ignored: Stripe is asked.
    payload = event(
        "setup_intent.succeeded",
        reservation.stripe_setup_intent_id,
        status="requires_payment_method",
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(payload)

    assert response.status_code == 200, response.content
    reservation.refresh_from_db()
    assert reservation.status == S.ACTIVE
    assert reservation.card_last4 == "4242"
    assert [message.to for message in outbox.deliver()] == [[reservation.email]]
    stored = StripeWebhookEvent.objects.get()
    assert (stored.type, stored.processed_at is not None) == ("setup_intent.succeeded", True)


def test_an_event_whose_payload_lies_changes_nothing(localstripe):
    reservation = reservation_create(
        spot_id=ParkingSpotFactory().pk, reservation_length=60, email=unique_email()
    )
    payment_setup_intent_get_or_create(reservation_id=reservation.pk)
    reservation.refresh_from_db()

    payload = event(
        "setup_intent.succeeded",
        reservation.stripe_setup_intent_id,
        status="succeeded",
        payment_method="pm_forged",
    )
    response = deliver(payload)

    assert response.status_code == 200, response.content
    reservation.refresh_from_db()
    assert (reservation.status, reservation.stripe_payment_method_id) == (S.PENDING_PAYMENT, "")


def test_a_setup_intent_of_another_customer_does_not_activate_a_reservation(
    card_saved_but_not_confirmed, caplog
):
    """The SetupIntent is found by the id stored on the reservation; should that ever name a
    SetupIntent of someone else's customer, it is not trusted."""
    reservation = card_saved_but_not_confirmed
    Reservation.objects.filter(pk=reservation.pk).update(stripe_customer_id="cus_someone_else")

    with caplog.at_level(logging.WARNING, logger="payments.services"):
        response = deliver(event("setup_intent.succeeded", reservation.stripe_setup_intent_id))

    assert response.status_code == 200
    assert Reservation.objects.get(pk=reservation.pk).status == S.PENDING_PAYMENT
    assert StripeWebhookEvent.objects.get().processed_at is not None
    assert any("is not the reservation's" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda payload: stripe_signature(payload, secret="whsec_other"), id="other"),
        pytest.param(lambda payload: stripe_signature(payload + b" "), id="other body"),
        pytest.param(lambda payload: "t=1,v1=00", id="garbage"),
        pytest.param(lambda payload: "", id="missing"),
    ],
)
def test_an_invalid_signature_is_400_and_nothing_happens(card_saved_but_not_confirmed, signature):
    reservation = card_saved_but_not_confirmed
    payload = event("setup_intent.succeeded", reservation.stripe_setup_intent_id)

    response = deliver(payload, signature(payload))

    assert response.status_code == 400
    assert "detail" in response.json()
    assert not StripeWebhookEvent.objects.exists()
    assert Reservation.objects.get(pk=reservation.pk).status == S.PENDING_PAYMENT


def test_a_replayed_event_has_no_second_effect(
    card_saved_but_not_confirmed, outbox, django_capture_on_commit_callbacks
):
    reservation = card_saved_but_not_confirmed
    payload = event("setup_intent.succeeded", reservation.stripe_setup_intent_id)
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(payload)
    # Acting on the event again would now activate the reservation again.
    Reservation.objects.filter(pk=reservation.pk).update(
        status=S.PENDING_PAYMENT, hold_expires_at=timezone.now() + timedelta(minutes=5)
    )

    with django_capture_on_commit_callbacks(execute=True):
        replay = deliver(payload)

    assert (first.status_code, replay.status_code) == (200, 200)
    assert Reservation.objects.get(pk=reservation.pk).status == S.PENDING_PAYMENT
    assert len(outbox.deliver()) == 1
    assert StripeWebhookEvent.objects.count() == 1


def test_an_unknown_event_type_is_acknowledged_and_ignored(localstripe):
    response = deliver(event("customer.created", "cus_anything"))

    assert response.status_code == 200
    assert StripeWebhookEvent.objects.get().type == "customer.created"


def test_an_event_for_no_reservation_is_acknowledged(localstripe):
    unknown_setup_intent = event("setup_intent.succeeded", "seti_nobodys")
    customer_id = gateway.customer_create(email=unique_email(), idempotency_key=uuid.uuid4().hex)
    setup_intent = gateway.setup_intent_create(
        customer_id=customer_id, metadata={}, idempotency_key=uuid.uuid4().hex
    )
    localstripe.confirm_card_setup(setup_intent.client_secret, CARD_OK)
    saved = gateway.setup_intent_retrieve(setup_intent_id=setup_intent.id)
    foreign_charge = gateway.payment_intent_charge_off_session(
        customer_id=customer_id,
        payment_method_id=saved.payment_method_id,
        amount_cents=500,
        metadata={},
        idempotency_key=uuid.uuid4().hex,
    )

    responses = [
        deliver(unknown_setup_intent),
        deliver(event("payment_intent.succeeded", foreign_charge.payment_intent_id)),
    ]

    assert [response.status_code for response in responses] == [200, 200]
    assert StripeWebhookEvent.objects.filter(processed_at__isnull=False).count() == 2


def test_payment_intent_succeeded_settles_a_charge_whose_transaction_was_lost(
    localstripe, ended_reservation
):
    """Stripe charged but the charge's transaction never committed (a crash): the webhook
    records the PaymentIntent, so the next charge call does not charge again."""
    reservation = ended_reservation(CARD_OK)
    lost = gateway.payment_intent_charge_off_session(
        customer_id=reservation.stripe_customer_id,
        payment_method_id=reservation.stripe_payment_method_id,
        amount_cents=reservation.amount_cents,
        metadata=payment_metadata(reservation=reservation),
        idempotency_key=uuid.uuid4().hex,
    )

    response = deliver(event("payment_intent.succeeded", lost.payment_intent_id))

    assert response.status_code == 200
    reservation.refresh_from_db()
    assert (reservation.status, recorded_payment_intent(reservation)) == (
        S.PAID,
        lost.payment_intent_id,
    )
    assert payment_charge_reservation(reservation_id=reservation.pk).status == S.PAID
    assert len(localstripe.payment_intents(reservation.stripe_customer_id)) == 1


def test_payment_intent_payment_failed_fails_the_reservation_once(
    localstripe, ended_reservation, outbox, django_capture_on_commit_callbacks
):
    reservation = ended_reservation(CARD_ALWAYS_AUTHENTICATE)
    with pytest.raises(CardDeclined) as declined:
        gateway.payment_intent_charge_off_session(
            customer_id=reservation.stripe_customer_id,
            payment_method_id=reservation.stripe_payment_method_id,
            amount_cents=reservation.amount_cents,
            metadata=payment_metadata(reservation=reservation),
            idempotency_key=uuid.uuid4().hex,
        )
    payment_intent_id = declined.value.payment_intent_id

    with django_capture_on_commit_callbacks(execute=True):
        responses = [
            deliver(event("payment_intent.payment_failed", payment_intent_id)) for _ in range(2)
        ]
        payment_charge_reservation(reservation_id=reservation.pk)

    assert [response.status_code for response in responses] == [200, 200]
    reservation.refresh_from_db()
    assert reservation.status == S.PAYMENT_FAILED
    [payment] = payments_of(reservation)
    assert (payment.stripe_payment_intent_id, payment.error_code) == (
        payment_intent_id,
        "authentication_required",
    )
    # Once each: the booking's confirmation, the bill, and how to settle it.
    sent = outbox.deliver()
    assert {message.to[0] for message in sent} == {reservation.email}
    assert sorted(message.subject for message in sent) == sorted(
        [SUBJECTS["confirmed"], SUBJECTS["ended"], PAYMENT_FAILED_SUBJECT]
    )
    assert len(localstripe.payment_intents(reservation.stripe_customer_id)) == 1


def test_stripe_down_is_503_and_the_redelivered_event_is_handled(
    card_saved_but_not_confirmed, localstripe, settings
):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    reservation = card_saved_but_not_confirmed
    payload = event("setup_intent.succeeded", reservation.stripe_setup_intent_id)

    with localstripe.stopped():
        down = deliver(payload)
    assert down.status_code == 503
    assert "detail" in down.json()
    assert not StripeWebhookEvent.objects.exists()

    assert deliver(payload).status_code == 200
    assert Reservation.objects.get(pk=reservation.pk).status == S.ACTIVE


SIGNED_MALFORMED = [
    b"",
    b"not json",
    b"[1]",
    b'"event"',
    b"null",
    b"\xff\xfe",
    b'{"id": 1, "type": "setup_intent.succeeded"}',
    b'{"id": "evt_1", "type": ["x"]}',
    b'{"id": "evt_1", "type": "setup_intent.succeeded", "data": [1]}',
    b'{"id": "evt_1", "type": "setup_intent.succeeded", "data": {"object": {"id": 7}}}',
    json.dumps({"id": "evt_" + "x" * 300, "type": "setup_intent.succeeded"}).encode(),
    json.dumps({"id": "evt_1", "type": "x" * 101}).encode(),
]


@pytest.mark.parametrize("payload", SIGNED_MALFORMED)
def test_a_signed_body_that_is_no_event_is_400(localstripe, payload):
    response = deliver(payload)

    assert response.status_code == 400
    assert "detail" in response.json()
    assert not StripeWebhookEvent.objects.exists()


def test_the_webhook_takes_only_post(localstripe):
    assert APIClient().get(URL).status_code == 405
    assert deliver(event("customer.created", "cus_1"), path="/stripe/webhook").status_code == 200
