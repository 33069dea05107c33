"""A well-signed webhook about an object Stripe does not know is acknowledged, recorded and
logged (Stripe would otherwise redeliver it for days); Stripe's own trouble still answers
non-2xx so that Stripe redelivers."""

import logging
import socket
import time

import pytest

from payments.models import StripeWebhookEvent
from tests.payments.test_webhooks import deliver, event

pytestmark = pytest.mark.django_db


def test_an_event_about_an_object_stripe_does_not_know_is_acknowledged_and_recorded(
    localstripe, caplog
):
    payload = event("payment_intent.succeeded", "pi_stripe_never_made_this")

    with caplog.at_level(logging.WARNING, logger="payments.services"):
        response = deliver(payload)

    assert response.status_code == 200
    stored = StripeWebhookEvent.objects.get()
    assert stored.type == "payment_intent.succeeded"
    assert stored.processed_at is not None
    assert stored.outcome.startswith("Not applied:")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any(stored.event_id in record.getMessage() for record in warnings)
    # Redelivered anyway: acknowledged once more, acted on never.
    assert deliver(payload).status_code == 200
    assert StripeWebhookEvent.objects.count() == 1


def test_an_event_that_was_applied_records_no_outcome(localstripe):
    assert deliver(event("customer.created", "cus_anything")).status_code == 200

    assert StripeWebhookEvent.objects.get().outcome == ""


def test_stripe_stalled_is_non_2xx_and_nothing_is_recorded(localstripe, settings, stall_server):
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{stall_server.port}"
    # Both profiles, whichever process role an earlier test left declared.
    settings.STRIPE_TIMEOUT_SECONDS = settings.STRIPE_WEB_TIMEOUT_SECONDS = 0.5
    settings.STRIPE_MAX_NETWORK_RETRIES = settings.STRIPE_WEB_MAX_NETWORK_RETRIES = 0

    started = time.monotonic()
    response = deliver(event("payment_intent.succeeded", "pi_while_stripe_stalls"))

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert "detail" in response.json()
    assert not StripeWebhookEvent.objects.exists()


def test_stripe_refusing_connections_is_non_2xx_and_nothing_is_recorded(localstripe, settings):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{port}"
    settings.STRIPE_MAX_NETWORK_RETRIES = settings.STRIPE_WEB_MAX_NETWORK_RETRIES = 0

    response = deliver(event("payment_intent.payment_failed", "pi_while_stripe_refuses"))

    assert response.status_code == 503
    assert not StripeWebhookEvent.objects.exists()
