"""Settling a failed charge: the driver pays the bill on-session, as Stripe advises once an
off-session charge fails (present, they can pass the 3-D Secure their bank may ask for).

A reservation has one settlement PaymentIntent open at a time: the settle route creates it
(the bill, on the reservation's Customer, the saved card as its default), records it as a
Payment of kind `settlement` before its client secret leaves, and hands out that same one
until Stripe says it was cancelled. So at most one PaymentIntent a client can confirm is
live, and its success is applied once, whichever comes first: the confirm route, the
`payment_intent.succeeded` webhook (`charges.payment_intent_reconcile`, which trusts it as
a recorded PaymentIntent of this reservation's bill) or the next settle call. A paid
reservation is never charged again: the worker's charge returns for `paid`, and settling
one is a 409.
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction

from payments import gateway
from payments.exceptions import PaymentError, UntrustedStripeObject
from payments.models import Payment, PaymentKind, PaymentState
from payments.services.cards import customer_get_or_create
from payments.services.charges import payment_apply_result, payment_intent_untrusted_reason
from payments.services.common import idempotency_key, payment_metadata, reservation_read
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_lock
from secure_my_spot.exceptions import ConflictError

logger = logging.getLogger(__name__)

S = ReservationStatus


@dataclass(frozen=True)
class Settlement:
    client_secret: str = field(repr=False)
    amount_cents: int
    currency: str
    # False when the open one was returned (or a concurrent caller's).
    created: bool


def _settlement(result: gateway.ChargeResult, *, created: bool) -> Settlement:
    return Settlement(
        client_secret=result.client_secret,
        amount_cents=result.amount_cents,
        currency=result.currency,
        created=created,
    )


def _check_settleable(reservation: Reservation) -> None:
    if reservation.status == S.PAID:
        raise ConflictError("This reservation is already paid.")
    if reservation.status != S.PAYMENT_FAILED:
        raise ConflictError(
            f"A reservation that is {reservation.status} has no failed charge to settle."
        )


def _latest_settlement(reservation: Reservation) -> Payment | None:
    return (
        reservation.payments.filter(kind=PaymentKind.SETTLEMENT)
        .exclude(stripe_payment_intent_id="")
        .order_by("attempt")
        .last()
    )


def _apply(*, reservation_id: int, payment_id: int, result: gateway.ChargeResult) -> Reservation:
    """What Stripe said of a recorded settlement, applied under the row lock as charges do."""
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        reason = payment_intent_untrusted_reason(reservation, result)
        if reason:
            logger.warning(
                "PaymentIntent %s cannot settle reservation %s: %s",
                result.payment_intent_id,
                reservation.pk,
                reason,
            )
            raise UntrustedStripeObject("This payment does not belong to this reservation.")
        payment = reservation.payments.get(pk=payment_id)
        return payment_apply_result(reservation, payment, result)


def _cancel_unused(payment_intent_id: str) -> None:
    try:
        gateway.payment_intent_cancel(payment_intent_id=payment_intent_id)
    except PaymentError:
        # Its client secret never left this server, so nobody can confirm it: only tidying.
        logger.warning("Could not cancel the unused PaymentIntent %s", payment_intent_id)


def payment_settlement_get_or_create(*, reservation_id: int) -> Settlement:
    """The client secret of the reservation's settlement PaymentIntent, created when none is
    open (none yet, or Stripe cancelled the last one).

    Read, ask Stripe, lock, re-check, record: the Payment row is written before the secret
    leaves. A concurrent caller that recorded another settlement meanwhile wins: the
    PaymentIntent made here is cancelled and the recorded one's secret returned. Racing
    creators send one idempotency key (the settlement it replaces), so real Stripe makes one
    PaymentIntent; localstripe, which ignores keys, makes two and the loser's is cancelled.
    An open settlement that Stripe says succeeded is applied here (then a 409: paid).
    """
    reservation = reservation_read(reservation_id)
    _check_settleable(reservation)
    latest = _latest_settlement(reservation)
    previous = latest.stripe_payment_intent_id if latest else ""
    before = None
    if latest is not None:
        before = gateway.payment_intent_retrieve(payment_intent_id=previous)
        if before.succeeded:
            _apply(reservation_id=reservation_id, payment_id=latest.pk, result=before)
            raise ConflictError("This reservation is already paid.")
        if before.status != "canceled":
            return _settlement(before, created=False)
    customer_id = reservation.stripe_customer_id or customer_get_or_create(email=reservation.email)
    mine = gateway.payment_intent_create_on_session(
        customer_id=customer_id,
        payment_method_id=reservation.stripe_payment_method_id,
        amount_cents=reservation.amount_cents,
        metadata=payment_metadata(reservation=reservation),
        idempotency_key=idempotency_key(reservation, f"settlement-after-{previous or 'none'}"),
    )
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        latest = _latest_settlement(reservation)
        recorded = latest.stripe_payment_intent_id if latest else ""
        if (
            reservation.status == S.PAYMENT_FAILED
            and recorded == previous
            and reservation.stripe_customer_id in ("", customer_id)
        ):
            if latest is not None and before is not None:
                payment_apply_result(reservation, latest, before)  # the cancelled one: failed
            if not reservation.stripe_customer_id:
                reservation.stripe_customer_id = customer_id
                reservation.save(update_fields=["stripe_customer_id", "updated_at"])
            Payment.objects.create(
                reservation=reservation,
                attempt=reservation.payments.count() + 1,
                kind=PaymentKind.SETTLEMENT,
                amount_cents=mine.amount_cents,
                currency=mine.currency,
                state=PaymentState.PENDING,
                stripe_payment_intent_id=mine.payment_intent_id,
                stripe_payment_method_id=mine.payment_method_id or "",
                card_brand=mine.card_brand or "",
                card_last4=mine.card_last4 or "",
            )
            return _settlement(mine, created=True)
    if recorded != mine.payment_intent_id:
        _cancel_unused(mine.payment_intent_id)
    _check_settleable(reservation)
    if recorded == mine.payment_intent_id:
        return _settlement(mine, created=False)
    if not recorded:
        raise ConflictError("This reservation changed meanwhile: settle it again.")
    return _settlement(gateway.payment_intent_retrieve(payment_intent_id=recorded), created=False)


def payment_settlement_confirm(*, reservation_id: int) -> Reservation:
    """Mark the reservation paid if Stripe says its settlement succeeded; never trust a client.

    Repeatable, and in any order with the webhook: a paid reservation is returned as it is.
    """
    reservation = reservation_read(reservation_id)
    if reservation.status == S.PAID:
        return reservation
    _check_settleable(reservation)
    latest = _latest_settlement(reservation)
    if latest is None:
        raise ConflictError("No payment has been started for this reservation: settle it first.")
    result = gateway.payment_intent_retrieve(payment_intent_id=latest.stripe_payment_intent_id)
    if not result.succeeded:
        raise ConflictError(f"The payment is not complete (Stripe says {result.status}).")
    return _apply(reservation_id=reservation_id, payment_id=latest.pk, result=result)
