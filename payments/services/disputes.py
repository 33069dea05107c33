"""Disputes (chargebacks): recorded against their payment as Stripe reports them, and the
operators told once per status, since only they can answer with evidence, in Stripe."""

import logging

from django.db import transaction
from django.utils import timezone

from payments import gateway
from payments.emails import dispute_email_queue
from payments.exceptions import UntrustedStripeObject
from payments.models import Dispute
from payments.services.common import payment_id_recorded, payment_intent_of, payment_lock

logger = logging.getLogger(__name__)

# Stripe's final statuses: the bank decided, or an inquiry closed without becoming a dispute.
CLOSED = frozenset({"won", "lost", "warning_closed"})


def dispute_reconcile(*, dispute_id: str) -> Dispute:
    """Record a Stripe Dispute as Stripe reports it now (`charge.dispute.*` webhooks).

    It counts only against a payment recorded here (found by its PaymentIntent, or its
    charge's): any other is NotFoundError and changes nothing. Written under the payment's
    row lock, so concurrent deliveries write one row; a closed dispute stays closed (an
    answer read before it closed is older, not truer). Operators are e-mailed once per
    status.
    """
    info = gateway.dispute_retrieve(dispute_id=dispute_id)
    payment_intent_id = payment_intent_of(
        payment_intent_id=info.payment_intent_id, charge_id=info.charge_id
    )
    payment_id = payment_id_recorded(payment_intent_id=payment_intent_id)
    with transaction.atomic():
        payment = payment_lock(payment_id=payment_id)
        dispute = Dispute.objects.filter(stripe_dispute_id=info.id).first()
        if dispute is None:
            dispute = Dispute(payment=payment, stripe_dispute_id=info.id)
            logger.warning("Dispute %s opened against payment %s", info.id, payment.pk)
        elif dispute.payment_id != payment.pk:
            raise UntrustedStripeObject(
                f"Dispute {info.id} is recorded against payment {dispute.payment_id}, "
                f"Stripe says payment {payment.pk}."
            )
        elif dispute.closed_at is not None and info.status not in CLOSED:
            return dispute
        dispute.amount_cents, dispute.currency = info.amount_cents, info.currency
        dispute.reason, dispute.status = info.reason, info.status
        dispute.evidence_due_by = info.evidence_due_by
        if info.status in CLOSED and dispute.closed_at is None:
            dispute.closed_at = timezone.now()
        dispute.save()
        dispute_email_queue(dispute=dispute)
    return dispute
