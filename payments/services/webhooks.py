"""Stripe's webhook events, verified, recorded once and routed to the service that owns them."""

import logging

from django.utils import timezone

from payments import gateway
from payments.exceptions import UnknownStripeObject
from payments.models import StripeWebhookEvent
from payments.services.cards import payment_setup_confirm
from payments.services.charges import payment_intent_reconcile
from payments.services.disputes import dispute_reconcile
from payments.services.refunds import refund_charge_reconcile, refund_reconcile
from reservations.models import Reservation
from secure_my_spot.exceptions import ConflictError, NotFoundError

logger = logging.getLogger(__name__)


def _on_setup_intent_succeeded(setup_intent_id: str) -> None:
    """The SetupIntent id is stored before its client secret is handed out, so it finds the
    reservation of any SetupIntent a client could have confirmed."""
    reservation_id = (
        Reservation.objects.filter(stripe_setup_intent_id=setup_intent_id)
        .values_list("pk", flat=True)
        .first()
    )
    if reservation_id is None:
        raise NotFoundError(f"No reservation for SetupIntent {setup_intent_id}.")
    payment_setup_confirm(reservation_id=reservation_id)


def _on_payment_intent(payment_intent_id: str) -> None:
    payment_intent_reconcile(payment_intent_id=payment_intent_id)


def _on_refund(refund_id: str) -> None:
    refund_reconcile(stripe_refund_id=refund_id)


def _on_charge_refunded(charge_id: str) -> None:
    refund_charge_reconcile(charge_id=charge_id)


def _on_dispute(dispute_id: str) -> None:
    dispute_reconcile(dispute_id=dispute_id)


WEBHOOK_HANDLERS = {
    "setup_intent.succeeded": _on_setup_intent_succeeded,
    "payment_intent.succeeded": _on_payment_intent,
    "payment_intent.payment_failed": _on_payment_intent,
    # A Charge's event: its refunds are listed again from Stripe.
    "charge.refunded": _on_charge_refunded,
    "refund.created": _on_refund,
    "refund.updated": _on_refund,
    "refund.failed": _on_refund,
    "charge.dispute.created": _on_dispute,
    "charge.dispute.updated": _on_dispute,
    "charge.dispute.closed": _on_dispute,
}


def payment_webhook_receive(*, payload: bytes, signature: str) -> bool:
    """Verify a Stripe event and act on it; False for an event already handled.

    The payload is only trusted for the object's id; its state is fetched from Stripe again
    (no lock held meanwhile) and checked against the reservation it claims, and every
    handler is a repeatable state change, so a concurrent or repeated delivery changes
    nothing twice. The event is recorded once handled: a failure that should make Stripe
    retry (Stripe unreachable) records nothing. An object that is not this deployment's or
    does not match, a reservation that is not found or not in a state for the event, or an
    object Stripe itself no longer knows (a 404 on the re-fetch: retrying cannot change
    that) is logged (WARNING, with the reason) and done: Stripe gets its 2xx, nothing
    changes, and the reason is kept on the event's row.
    """
    event = gateway.webhook_event_construct(payload=payload, signature=signature)
    if StripeWebhookEvent.objects.filter(event_id=event.id).exists():
        return False
    handler = WEBHOOK_HANDLERS.get(event.type)
    outcome = ""
    if handler is not None and event.object_id:
        try:
            handler(event.object_id)
        except (ConflictError, NotFoundError, UnknownStripeObject) as exc:
            outcome = f"Not applied: {exc}"
            logger.warning("Stripe event %s (%s) not applied: %s", event.id, event.type, exc)
    _, created = StripeWebhookEvent.objects.get_or_create(
        event_id=event.id,
        defaults={"type": event.type, "processed_at": timezone.now(), "outcome": outcome},
    )
    return created
