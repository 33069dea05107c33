"""The end-of-stay charge, and bringing a reservation in line with a PaymentIntent."""

import logging

from django.conf import settings
from django.db import transaction

from payments import gateway
from payments.emails import payment_failed_email_queue, receipt_email_queue
from payments.exceptions import CardDeclined, UntrustedStripeObject
from payments.models import Payment, PaymentState
from payments.services.common import idempotency_key, payment_metadata, untrusted_reason
from reservations.models import Reservation, ReservationStatus
from reservations.services import (
    reservation_lock,
    reservation_mark_paid,
    reservation_mark_payment_failed,
)
from secure_my_spot import metrics
from secure_my_spot.exceptions import ConflictError, NotFoundError

logger = logging.getLogger(__name__)

S = ReservationStatus
# A PaymentIntent in these states may still succeed: leave the reservation ended and let
# the webhook (or the next charge call) settle it.
PAYMENT_PENDING = frozenset({"processing", "requires_capture"})


def payment_intent_untrusted_reason(reservation: Reservation, result: gateway.ChargeResult) -> str:
    reason = untrusted_reason(reservation, metadata=result.metadata, customer_id=result.customer_id)
    if reason:
        return reason
    if result.amount_cents != reservation.amount_cents or result.currency != gateway.CURRENCY:
        return (
            f"it is for {result.amount_cents} {result.currency}, the bill is "
            f"{reservation.amount_cents} {gateway.CURRENCY}"
        )
    recorded = set(
        reservation.payments.exclude(stripe_payment_intent_id="").values_list(
            "stripe_payment_intent_id", flat=True
        )
    )
    if recorded and result.payment_intent_id not in recorded:
        return f"the reservation recorded PaymentIntents {sorted(recorded)}: left for an operator"
    paid_by = (
        reservation.payments.filter(state=PaymentState.SUCCEEDED)
        .exclude(stripe_payment_intent_id=result.payment_intent_id)
        .values_list("stripe_payment_intent_id", flat=True)
        .first()
    )
    if result.succeeded and paid_by is not None:
        # Someone with the secret key completed an older PaymentIntent: money taken twice.
        return f"the bill was already paid by {paid_by or 'a zero charge'}: refund one of them"
    return ""


def _fail(reservation: Reservation, *, code: str) -> Reservation:
    """Record a failed charge of an ended reservation: the driver gets the receipt and how
    to settle.

    Called under the row lock and only from `ended`; each e-mail is queued once.
    """
    reservation = reservation_mark_payment_failed(reservation_id=reservation.pk)
    receipt_email_queue(reservation=reservation)
    payment_failed_email_queue(reservation=reservation, error_code=code)
    logger.info("Charge of reservation %s failed: %s", reservation.pk, code)
    return reservation


def _mark_paid(reservation: Reservation) -> Reservation:
    """Record the bill taken (under the row lock); the first outcome of an ended reservation
    also mails its receipt, a settled failure does not (its receipt went with the failure)."""
    first_outcome = reservation.status == S.ENDED
    reservation = reservation_mark_paid(reservation_id=reservation.pk)
    if first_outcome:
        receipt_email_queue(reservation=reservation)
    return reservation


def _failure_code(result: gateway.ChargeResult) -> str:
    if result.status == "requires_action":
        return "authentication_required"
    return result.decline_code or result.failure_code or result.status


def payment_apply_result(
    reservation: Reservation, payment: Payment, result: gateway.ChargeResult
) -> Reservation:
    """Bring a locked reservation and its payment in line with the PaymentIntent; repeatable.

    A success also settles a `payment_failed` reservation (the driver completed the payment
    with Stripe later); a failure only counts for a reservation still waiting on it. A
    payment recorded as succeeded stays so: an answer read before the success (a webhook
    that waited for the lock) is older, not truer.
    """
    if payment.state == PaymentState.SUCCEEDED and not result.succeeded:
        return reservation
    values = {"error_code": ""}
    if result.succeeded:
        values["state"] = PaymentState.SUCCEEDED
        if result.payment_method_id and result.card_last4:
            # The card that paid: a settlement may be paid with another than the saved one.
            values["stripe_payment_method_id"] = result.payment_method_id
            values["card_brand"] = result.card_brand or ""
            values["card_last4"] = result.card_last4
    elif result.status in PAYMENT_PENDING:
        values = {"state": PaymentState.PENDING}
    else:
        values = {"state": PaymentState.FAILED, "error_code": _failure_code(result)}
    changed = [name for name, value in values.items() if getattr(payment, name) != value]
    if changed:
        # Only what is new: a replayed answer leaves updated_at at the moment the state was set.
        for name in changed:
            setattr(payment, name, values[name])
        payment.save(update_fields=[*changed, "updated_at"])
        if "state" in changed:
            metrics.charge_settled(state=payment.state)
    if result.succeeded:
        if reservation.status in (S.ENDED, S.PAYMENT_FAILED):
            return _mark_paid(reservation)
        return reservation
    if reservation.status != S.ENDED or payment.state == PaymentState.PENDING:
        return reservation
    return _fail(reservation, code=payment.error_code)


def payment_record(
    reservation: Reservation,
    *,
    attempt: int,
    state: str,
    payment_intent_id: str = "",
    error_code: str = "",
) -> Payment:
    """A row for an attempt with the reservation's saved card (the end-of-stay charge)."""
    return Payment.objects.create(
        reservation=reservation,
        attempt=attempt,
        amount_cents=reservation.amount_cents,
        currency=gateway.CURRENCY,
        state=state,
        stripe_payment_method_id=reservation.stripe_payment_method_id,
        card_brand=reservation.card_brand,
        card_last4=reservation.card_last4,
        stripe_payment_intent_id=payment_intent_id,
        error_code=error_code,
    )


def payment_charge_reservation(*, reservation_id: int) -> Reservation:
    """Charge an ended reservation's bill to its saved card, once, however often it is called.

    Under the row lock: a paid or failed reservation is returned as it is; a payment whose
    PaymentIntent is still pending is asked for its outcome, never charged again; otherwise
    one PaymentIntent is created and its Payment row written in the same transaction. A zero
    bill is paid without calling Stripe (whose smallest charge is 50 cents). The idempotency
    key is the reservation and attempt number, where attempts are the Payment rows, written
    only once Stripe answered: a network error leaves everything as it was, so the retry
    sends the same key and real Stripe returns the PaymentIntent a lost response may have
    created.

    Raises PaymentProviderUnavailable (retry later) when Stripe cannot be reached.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status in (S.PAID, S.PAYMENT_FAILED):
            return reservation
        if reservation.status != S.ENDED:
            raise ConflictError(f"A reservation that is {reservation.status} has no final bill.")
        if reservation.amount_cents == 0:
            return _mark_paid(reservation)
        payments = list(reservation.payments.order_by("attempt"))
        waiting = [
            p for p in payments if p.state == PaymentState.PENDING and p.stripe_payment_intent_id
        ]
        if waiting:
            result = gateway.payment_intent_retrieve(
                payment_intent_id=waiting[-1].stripe_payment_intent_id
            )
            return payment_apply_result(reservation, waiting[-1], result)
        attempt = len(payments) + 1
        if not reservation.stripe_payment_method_id:
            code = "no_payment_method"
            payment_record(reservation, attempt=attempt, state=PaymentState.FAILED, error_code=code)
            return _fail(reservation, code=code)
        try:
            result = gateway.payment_intent_charge_off_session(
                customer_id=reservation.stripe_customer_id,
                payment_method_id=reservation.stripe_payment_method_id,
                amount_cents=reservation.amount_cents,
                metadata=payment_metadata(reservation=reservation),
                idempotency_key=idempotency_key(reservation, f"charge-{attempt}"),
            )
        except CardDeclined as declined:
            code = declined.decline_code or declined.code
            payment_record(
                reservation,
                attempt=attempt,
                state=PaymentState.FAILED,
                payment_intent_id=declined.payment_intent_id or "",
                error_code=code,
            )
            return _fail(reservation, code=code)
        payment = payment_record(
            reservation,
            attempt=attempt,
            state=PaymentState.PENDING,
            payment_intent_id=result.payment_intent_id,
        )
        return payment_apply_result(reservation, payment, result)


def payment_intent_reconcile(*, payment_intent_id: str) -> Reservation:
    """Settle the reservation of a PaymentIntent as Stripe reports it now (for webhooks).

    The reservation is the one the metadata names, and only a PaymentIntent this deployment
    made for its bill counts (UntrustedStripeObject otherwise, changing nothing). One with no
    Payment row yet (a crash after Stripe answered) gets one, so the next charge call finds
    it instead of charging.
    """
    result = gateway.payment_intent_retrieve(payment_intent_id=payment_intent_id)
    if result.metadata.get("deployment") != settings.DEPLOYMENT_TAG:
        raise UntrustedStripeObject(
            f"PaymentIntent {result.payment_intent_id} is ignored: "
            "its metadata names another deployment."
        )
    reservation_id = (
        Reservation.objects.filter(public_id=result.metadata.get("reservation", ""))
        .values_list("pk", flat=True)
        .first()
    )
    if reservation_id is None:
        raise NotFoundError(f"No reservation for PaymentIntent {result.payment_intent_id}.")
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        reason = payment_intent_untrusted_reason(reservation, result)
        if reason:
            raise UntrustedStripeObject(
                f"PaymentIntent {result.payment_intent_id} is ignored for reservation "
                f"{reservation.pk}: {reason}."
            )
        payment = reservation.payments.filter(
            stripe_payment_intent_id=result.payment_intent_id
        ).first() or payment_record(
            reservation,
            attempt=reservation.payments.count() + 1,
            state=PaymentState.PENDING,
            payment_intent_id=result.payment_intent_id,
        )
        return payment_apply_result(reservation, payment, result)
