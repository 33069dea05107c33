"""The gateway against localstripe, through the real stripe library."""

import json
import time
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured

from payments import gateway
from payments.exceptions import (
    CardDeclined,
    InvalidWebhook,
    PaymentProviderError,
    PaymentProviderUnavailable,
)
from testing.localstripe import (
    CARD_ALWAYS_AUTHENTICATE,
    CARD_DECLINED_ON_CHARGE,
    CARD_DECLINED_ON_SETUP,
    CARD_OK,
    stripe_signature,
)


def charge(setup_intent: gateway.SetupIntentInfo, amount_cents: int = 1234):
    return gateway.payment_intent_charge_off_session(
        customer_id=setup_intent.customer_id,
        payment_method_id=setup_intent.payment_method_id,
        amount_cents=amount_cents,
        metadata={"reservation_id": "42"},
        idempotency_key=f"reservation-42-charge-{uuid.uuid4().hex}",
    )


def test_setup_intent_is_created_for_off_session_card_use(customer_id):
    setup_intent = gateway.setup_intent_create(
        customer_id=customer_id,
        metadata={"reservation_id": "7"},
        idempotency_key=uuid.uuid4().hex,
    )

    assert setup_intent.id.startswith("seti_")
    assert setup_intent.status == "requires_payment_method"
    assert setup_intent.client_secret.startswith(f"{setup_intent.id}_secret_")
    assert setup_intent.customer_id == customer_id
    assert setup_intent.metadata == {"reservation_id": "7"}
    assert setup_intent.payment_method_id is None
    assert not setup_intent.succeeded


def test_card_confirmed_in_the_browser_shows_as_succeeded_with_its_card(saved_card):
    setup_intent = saved_card(CARD_OK)

    assert setup_intent.succeeded
    assert setup_intent.payment_method_id.startswith("pm_")
    assert (setup_intent.card_brand, setup_intent.card_last4) == ("visa", "4242")


def test_card_declined_when_saved_leaves_the_setup_intent_unsucceeded(localstripe, customer_id):
    setup_intent = gateway.setup_intent_create(
        customer_id=customer_id, metadata={}, idempotency_key=uuid.uuid4().hex
    )

    browser = localstripe.confirm_card_setup(setup_intent.client_secret, CARD_DECLINED_ON_SETUP)

    assert browser["error"]["code"] == "card_declined"
    assert not gateway.setup_intent_retrieve(setup_intent_id=setup_intent.id).succeeded


def test_card_that_needs_3d_secure_is_saved_once_authenticated(saved_card):
    setup_intent = saved_card(CARD_ALWAYS_AUTHENTICATE)

    assert setup_intent.succeeded
    assert setup_intent.card_last4 == "3184"


def test_off_session_charge_succeeds_for_the_amount_in_usd(saved_card):
    result = charge(saved_card(CARD_OK), amount_cents=1234)

    assert result.succeeded
    assert result.payment_intent_id.startswith("pi_")
    assert (result.amount_cents, result.currency) == (1234, "usd")
    assert result.metadata == {"reservation_id": "42"}
    assert gateway.payment_intent_retrieve(payment_intent_id=result.payment_intent_id) == result


def test_card_declined_when_charged_raises_card_declined(saved_card):
    setup_intent = saved_card(CARD_DECLINED_ON_CHARGE)
    assert setup_intent.succeeded

    with pytest.raises(CardDeclined) as declined:
        charge(setup_intent)

    assert declined.value.code == "card_declined"


def test_card_that_needs_authentication_off_session_raises_card_declined(saved_card):
    with pytest.raises(CardDeclined) as declined:
        charge(saved_card(CARD_ALWAYS_AUTHENTICATE))

    assert declined.value.code == "authentication_required"
    retrieved = gateway.payment_intent_retrieve(payment_intent_id=declined.value.payment_intent_id)
    assert not retrieved.succeeded


def test_unknown_object_is_a_provider_error_not_a_retry(localstripe):
    with pytest.raises(PaymentProviderError):
        gateway.setup_intent_retrieve(setup_intent_id="seti_doesnotexist")


def test_stripe_unreachable_is_retryable_and_loses_nothing(localstripe, saved_card, settings):
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    setup_intent = saved_card(CARD_OK)

    with localstripe.stopped():
        with pytest.raises(PaymentProviderUnavailable):
            charge(setup_intent)
        with pytest.raises(PaymentProviderUnavailable):
            gateway.setup_intent_retrieve(setup_intent_id=setup_intent.id)

    assert gateway.setup_intent_retrieve(setup_intent_id=setup_intent.id) == setup_intent
    assert charge(setup_intent).succeeded


def test_missing_secret_key_is_a_configuration_error(localstripe, settings):
    settings.STRIPE_SECRET_KEY = ""

    with pytest.raises(ImproperlyConfigured):
        gateway.setup_intent_retrieve(setup_intent_id="seti_any")


EVENT = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "setup_intent.succeeded",
        "data": {"object": {"id": "seti_1", "object": "setup_intent"}},
    }
).encode()

NO_ID = json.dumps({"object": "event", "type": "setup_intent.succeeded"}).encode()


def test_webhook_with_a_valid_signature_gives_the_event(localstripe):
    event = gateway.webhook_event_construct(payload=EVENT, signature=stripe_signature(EVENT))

    assert event == gateway.WebhookEvent(
        id="evt_1", type="setup_intent.succeeded", object_id="seti_1"
    )


@pytest.mark.parametrize(
    ("payload", "signature"),
    [
        pytest.param(EVENT, stripe_signature(EVENT, secret="whsec_other"), id="other secret"),
        pytest.param(EVENT + b" ", stripe_signature(EVENT), id="body changed"),
        pytest.param(
            EVENT, stripe_signature(EVENT, timestamp=int(time.time()) - 3600), id="too old"
        ),
        pytest.param(EVENT, "", id="no signature"),
        pytest.param(b"not json", stripe_signature(b"not json"), id="signed non-json"),
        pytest.param(NO_ID, stripe_signature(NO_ID), id="signed event without id"),
    ],
)
def test_webhook_that_does_not_verify_is_rejected(localstripe, payload, signature):
    with pytest.raises(InvalidWebhook):
        gateway.webhook_event_construct(payload=payload, signature=signature)
