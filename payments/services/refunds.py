"""Refunds: asked by operators, written before Stripe is asked, reconciled from webhooks.

Every write to a payment's refunds happens under the payment's row lock, never while Stripe
is asked. It is taken alone: no other lock is taken while it is held (in the order of
secure_my_spot/locking.py it would come after the reservation's row).
"""

import logging

from django.conf import settings
from django.db import transaction

from payments import gateway
from payments.emails import refund_email_queue
from payments.exceptions import (
    PaymentProviderError,
    PaymentProviderUnavailable,
    UntrustedStripeObject,
)
from payments.models import Payment, PaymentState, Refund, RefundState
from payments.selectors import payment_refundable_cents
from payments.services.common import (
    idempotency_key,
    payment_id_recorded,
    payment_intent_of,
    payment_lock,
    payment_metadata,
)
from reservations.pricing import format_dollars
from secure_my_spot import metrics
from secure_my_spot.exceptions import ApplicationError, ConflictError, NotFoundError
from users.models import User

logger = logging.getLogger(__name__)

R = RefundState
# The reason of a refund this service did not ask for (made in Stripe's dashboard).
MADE_IN_STRIPE = "made in Stripe"
# Stripe's refund statuses in ours: `requires_action` waits on the customer, like pending.
STRIPE_STATES = {
    "pending": R.PENDING,
    "requires_action": R.PENDING,
    "succeeded": R.SUCCEEDED,
    "failed": R.FAILED,
    "canceled": R.CANCELED,
}
# What may follow what. Stripe may fail a refund after it succeeded (the card was closed
# meanwhile); failed and canceled are final. Anything else is an older answer than the row.
NEXT_STATES = {
    R.PENDING: {R.SUCCEEDED, R.FAILED, R.CANCELED},
    R.SUCCEEDED: {R.FAILED},
    R.FAILED: set(),
    R.CANCELED: set(),
}
# Stripe keeps metadata values up to 500 characters.
METADATA_VALUE_MAX = 500


def refund_create(
    *, payment_id: int, amount_cents: int, reason: str, requested_by: User | None
) -> Refund:
    """Give `amount_cents` of a succeeded payment back, for `reason`; the refund's row.

    The row is checked against what is left and written, pending, under the payment's lock
    and committed before Stripe is asked: two operators at once queue on the lock and the
    second sees the first's amount spent. Then Stripe is asked without a lock, with an
    idempotency key of the row's id, and its answer recorded. A Stripe that cannot be
    reached leaves the row pending without a Stripe id (`refund_retry` sends the same key);
    one that refuses (the charge was refunded in Stripe meanwhile) fails it, releasing its
    amount.
    """
    reason = reason.strip()
    if not reason:
        raise ApplicationError("Say why the refund is made.", field="reason")
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise ApplicationError("A refund is a positive number of cents.", field="amount_cents")
    with transaction.atomic():
        payment = payment_lock(payment_id=payment_id)
        if payment.state != PaymentState.SUCCEEDED:
            raise ConflictError(
                f"Only a succeeded payment can be refunded; this one is {payment.state}."
            )
        if not payment.stripe_payment_intent_id:
            raise ConflictError("This payment has no Stripe PaymentIntent to refund.")
        left = payment_refundable_cents(payment=payment)
        if amount_cents > left:
            raise ApplicationError(
                f"At most {format_dollars(left)} ({left} cents) is left to refund of the "
                f"{format_dollars(payment.amount_cents)} paid.",
                field="amount_cents",
            )
        refund = Refund.objects.create(
            payment=payment,
            amount_cents=amount_cents,
            currency=payment.currency,
            reason=reason,
            requested_by=requested_by,
        )
    return _refund_send(refund)


def refund_retry(*, refund_id: int) -> Refund:
    """Ask Stripe again for a refund left pending; repeatable.

    One with a Stripe id is only asked for its state. One without is first looked for among
    the PaymentIntent's refunds (a lost answer past Stripe's 24 hours of idempotency would
    otherwise refund twice), then sent again with the same idempotency key.
    """
    refund = Refund.objects.select_related("payment__reservation").filter(pk=refund_id).first()
    if refund is None:
        raise NotFoundError("Refund not found.")
    if refund.state != R.PENDING:
        raise ConflictError(f"Refund {refund.pk} is {refund.state}: there is nothing to retry.")
    if refund.stripe_refund_id:
        return _refund_record(refund, gateway.refund_retrieve(refund_id=refund.stripe_refund_id))
    metadata = _refund_metadata(refund)
    for info in gateway.refunds_list(payment_intent_id=refund.payment.stripe_payment_intent_id):
        if all(info.metadata.get(key) == metadata[key] for key in ("deployment", "refund")):
            return _refund_record(refund, info)
    return _refund_send(refund)


def _refund_metadata(refund: Refund) -> dict[str, str]:
    return {
        **payment_metadata(reservation=refund.payment.reservation),
        "refund": str(refund.pk),
        "reason": refund.reason[:METADATA_VALUE_MAX],
    }


def _refund_send(refund: Refund) -> Refund:
    payment = refund.payment
    try:
        info = gateway.refund_create(
            payment_intent_id=payment.stripe_payment_intent_id,
            amount_cents=refund.amount_cents,
            metadata=_refund_metadata(refund),
            idempotency_key=idempotency_key(payment.reservation, f"refund-{refund.pk}"),
        )
    except PaymentProviderUnavailable:
        logger.warning("Refund %s left pending: Stripe could not be reached", refund.pk)
        return refund
    except PaymentProviderError as refused:
        return _refund_refused(refund, reason=str(refused))
    return _refund_record(refund, info)


def _refund_refused(refund: Refund, *, reason: str) -> Refund:
    with transaction.atomic():
        payment_lock(payment_id=refund.payment_id)
        refund = Refund.objects.get(pk=refund.pk)
        if refund.state == R.PENDING and not refund.stripe_refund_id:
            refund.state, refund.failure_reason = R.FAILED, reason[:255]
            refund.save(update_fields=["state", "failure_reason", "updated_at"])
            metrics.refund_settled(state=R.FAILED)
            logger.warning("Stripe refused refund %s: %s", refund.pk, reason)
    return refund


def _refund_record(refund: Refund, info: gateway.RefundInfo) -> Refund:
    """Stripe's answer for our own refund, as a webhook would record it."""
    with transaction.atomic():
        payment = payment_lock(payment_id=refund.payment_id)
        reason = refund_untrusted_reason(payment, info)
        if reason:
            raise UntrustedStripeObject(f"Refund {info.id} is not refund {refund.pk}: {reason}.")
        _refund_apply(payment, info)
    return Refund.objects.get(pk=refund.pk)


def refund_untrusted_reason(payment: Payment, info: gateway.RefundInfo) -> str:
    """Why a Stripe Refund of `payment`'s PaymentIntent cannot be recorded; empty when it can.

    One made in Stripe's dashboard carries no metadata and is recorded; one that names
    another deployment, reservation or refund row is not.
    """
    metadata = info.metadata
    if metadata.get("deployment", settings.DEPLOYMENT_TAG) != settings.DEPLOYMENT_TAG:
        return "its metadata names another deployment"
    if metadata.get("reservation", payment.reservation.public_id) != payment.reservation.public_id:
        return "its metadata names another reservation"
    if info.currency != payment.currency:
        return f"it is in {info.currency}, the payment in {payment.currency}"
    own = metadata.get("refund")
    if own is not None and not (own.isdigit() and payment.refunds.filter(pk=int(own)).exists()):
        return f"its metadata names refund {own}, which is not this payment's"
    if Refund.objects.filter(stripe_refund_id=info.id).exclude(payment=payment).exists():
        return "it is recorded against another payment"
    return ""


def _refund_apply(payment: Payment, info: gateway.RefundInfo) -> Refund:
    """Bring the row of a trusted Stripe Refund in line with it, under the payment's lock;
    repeatable. One of ours gets its Stripe id; one made in Stripe gets a row. A refund
    that succeeds mails the person, once."""
    refund = payment.refunds.filter(stripe_refund_id=info.id).first()
    own = info.metadata.get("refund", "")
    if refund is None and own.isdigit():
        # Ours, unless it already has another Stripe refund: then one key made two (past
        # Stripe's 24 hours), both paid, and this one is recorded as made in Stripe.
        refund = payment.refunds.filter(pk=int(own), stripe_refund_id="").first()
    if refund is None:
        refund = Refund.objects.create(
            payment=payment,
            amount_cents=info.amount_cents,
            currency=info.currency,
            reason=MADE_IN_STRIPE,
            stripe_refund_id=info.id,
        )
        logger.info("Refund %s made in Stripe recorded as refund %s", info.id, refund.pk)
    elif not refund.stripe_refund_id:
        refund.stripe_refund_id = info.id
        refund.save(update_fields=["stripe_refund_id", "updated_at"])
    state = STRIPE_STATES.get(info.status, R.PENDING)
    if state not in NEXT_STATES[refund.state]:
        return refund
    refund.state = state
    refund.failure_reason = (info.failure_reason or "")[:255] if state == R.FAILED else ""
    refund.save(update_fields=["state", "failure_reason", "updated_at"])
    metrics.refund_settled(state=state)
    if state == R.SUCCEEDED:
        refund_email_queue(refund=refund)
    return refund


def _refunds_reconcile(payment_intent_id: str, refunds: list[gateway.RefundInfo]) -> None:
    payment_id = payment_id_recorded(payment_intent_id=payment_intent_id)
    ignored = []
    with transaction.atomic():
        payment = payment_lock(payment_id=payment_id)
        for info in refunds:
            reason = refund_untrusted_reason(payment, info)
            if reason:
                ignored.append(f"Refund {info.id} is ignored: {reason}")
            else:
                _refund_apply(payment, info)
    if ignored:
        raise UntrustedStripeObject("; ".join(ignored) + ".")


def refund_reconcile(*, stripe_refund_id: str) -> None:
    """Record a Stripe Refund as Stripe reports it now (`refund.*` webhooks)."""
    info = gateway.refund_retrieve(refund_id=stripe_refund_id)
    payment_intent_id = payment_intent_of(
        payment_intent_id=info.payment_intent_id, charge_id=info.charge_id
    )
    _refunds_reconcile(payment_intent_id, [info])


def refund_charge_reconcile(*, charge_id: str) -> None:
    """Record every refund of a charge's PaymentIntent as Stripe reports it now
    (`charge.refunded`, whose Charge no longer lists its refunds)."""
    payment_intent_id = payment_intent_of(payment_intent_id=None, charge_id=charge_id)
    _refunds_reconcile(payment_intent_id, gateway.refunds_list(payment_intent_id=payment_intent_id))
