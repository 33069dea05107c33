"""Disputes: recorded against their payment from Stripe's word, operators e-mailed once per
status. localstripe has no disputes: testing/stripe_extras.py adds them (and says how)."""

import logging
import uuid
from datetime import UTC, datetime

import pytest

from payments import gateway
from payments.models import Dispute, StripeWebhookEvent
from testing.localstripe import CARD_OK
from tests.payments.test_refunds import pay, stripe_calls
from tests.payments.test_webhooks import deliver, event

pytestmark = pytest.mark.django_db


def operator_mail(outbox, settings) -> list:
    return [m for m in outbox.deliver() if m.to == [settings.PAYMENTS_SUPPORT_EMAIL]]


@pytest.mark.parametrize("decision", ["won", "lost"])
def test_a_dispute_opened_then_closed_is_recorded_and_operators_are_emailed_once_each(
    localstripe, ended_reservation, outbox, settings, decision
):
    payment = pay(ended_reservation)
    opened = localstripe.dispute_open(payment.stripe_payment_intent_id, reason="duplicate")

    # Stripe delivers at least once, in any order: each is asked about again.
    responses = [
        deliver(event("charge.dispute.created", opened["id"], status="lost")),
        deliver(event("charge.dispute.created", opened["id"])),
        deliver(event("charge.dispute.updated", opened["id"])),
    ]

    dispute = Dispute.objects.get()
    due_by = datetime.fromtimestamp(opened["evidence_details"]["due_by"], UTC)
    assert [r.status_code for r in responses] == [200] * 3
    assert (dispute.payment, dispute.stripe_dispute_id, dispute.status) == (
        payment,
        opened["id"],
        "needs_response",
    )
    assert (dispute.amount_cents, dispute.currency, dispute.reason) == (
        payment.amount_cents,
        "usd",
        "duplicate",
    )
    assert (dispute.evidence_due_by, dispute.closed_at) == (due_by, None)
    [opened_mail] = operator_mail(outbox, settings)
    assert payment.reservation.public_id in opened_mail.subject
    assert "Evidence due by" in opened_mail.body

    localstripe.dispute_resolve(opened["id"], decision)
    for _ in range(2):
        assert deliver(event("charge.dispute.closed", opened["id"])).status_code == 200

    dispute.refresh_from_db()
    assert dispute.status == decision
    assert dispute.closed_at is not None
    assert [m.subject for m in operator_mail(outbox, settings)] == [
        opened_mail.subject,
        f"Dispute {decision} on reservation {payment.reservation.public_id}",
    ]
    assert set(StripeWebhookEvent.objects.values_list("outcome", flat=True)) == {""}


def test_stripe_calls_of_one_dispute(localstripe, ended_reservation, caplog):
    """One call per dispute event: the Dispute names its PaymentIntent."""
    payment = pay(ended_reservation)
    opened = localstripe.dispute_open(payment.stripe_payment_intent_id)
    caplog.set_level(logging.INFO, logger="stripe")
    caplog.clear()

    deliver(event("charge.dispute.created", opened["id"]))
    deliver(event("charge.dispute.updated", opened["id"]))
    localstripe.dispute_resolve(opened["id"], "lost")
    deliver(event("charge.dispute.closed", opened["id"]))

    assert stripe_calls(caplog) == {("get", "/v1/disputes"): 3}


def test_the_admin_lists_disputes_with_their_evidence_due_date(
    localstripe, ended_reservation, admin_client
):
    payment = pay(ended_reservation)
    opened = localstripe.dispute_open(payment.stripe_payment_intent_id)
    deliver(event("charge.dispute.created", opened["id"]))

    listing = admin_client.get("/admin/payments/dispute/?status=needs_response", secure=True)
    closed_only = admin_client.get("/admin/payments/dispute/?status=won", secure=True)
    dispute = Dispute.objects.get()

    assert listing.status_code == 200
    assert opened["id"].encode() in listing.content
    assert b"evidence due by" in listing.content.lower()
    assert opened["id"].encode() not in closed_only.content
    assert admin_client.get("/admin/payments/dispute/add/", secure=True).status_code == 403
    change = admin_client.post(
        f"/admin/payments/dispute/{dispute.pk}/change/", {"status": "won"}, secure=True
    )
    assert change.status_code == 403
    assert Dispute.objects.get().status == "needs_response"


def test_a_dispute_of_a_payment_not_recorded_here_changes_nothing(
    localstripe, customer_id, saved_card, outbox, settings
):
    """Another deployment's charge on a shared Stripe account, or one made in the dashboard."""
    card = saved_card(CARD_OK)
    unrecorded = gateway.payment_intent_charge_off_session(
        customer_id=customer_id,
        payment_method_id=card.payment_method_id,
        amount_cents=700,
        metadata={},
        idempotency_key=uuid.uuid4().hex,
    )
    opened = localstripe.dispute_open(unrecorded.payment_intent_id)

    responses = [
        deliver(event("charge.dispute.created", opened["id"])),
        deliver(event("charge.dispute.created", "dp_made_up")),
    ]

    assert [r.status_code for r in responses] == [200, 200]
    assert not Dispute.objects.exists()
    assert operator_mail(outbox, settings) == []
    outcomes = list(StripeWebhookEvent.objects.values_list("outcome", flat=True))
    assert len(outcomes) == 2
    assert all(outcome.startswith("Not applied") for outcome in outcomes)
