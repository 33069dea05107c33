"""Payment state changes: the customer, the SetupIntent, confirmation, the charge, webhooks.

Lock, re-check, change (as pretix does), but never wait on Stripe inside a web request
while holding a lock: a route or a webhook asks Stripe first, then locks the reservation,
checks that what it asked about is still what the reservation records, and records the
answer. Two callers racing (a double-clicked confirm, a webhook) both ask, and the second
to lock finds the first one's result. Creations carry idempotency keys derived from the
reservation's recorded state, so with real Stripe racing creators get one object; with
localstripe (which ignores the keys) the loser's SetupIntent is left unused and its
Customer deleted.

The end-of-stay charge runs on the workers only and keeps its row lock across the call: a
duplicated task must wait for the first one's outcome rather than charge, and what waits
on that lock from a web request gives up after its lock_timeout (a 409).

Whatever comes back from Stripe by a webhook is checked against what it claims to settle
before anything changes: the metadata's deployment tag and reservation, the customer, and
for a payment the amount, currency and recorded id. One Stripe account may serve several
deployments, and anyone can create a PaymentIntent that names someone else's reservation.
"""

import hashlib
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from payments import gateway
from payments.emails import payment_failed_email_queue
from payments.exceptions import (
    CardDeclined,
    PaymentError,
    UnknownStripeObject,
    UntrustedStripeObject,
)
from payments.models import Payment, PaymentState, StripeCustomer, StripeWebhookEvent
from reservations.models import Reservation, ReservationStatus
from reservations.services import (
    reservation_activate,
    reservation_lock,
    reservation_mark_paid,
    reservation_mark_payment_failed,
)
from secure_my_spot.exceptions import ConflictError, NotFoundError
from users.models import normalize_email

logger = logging.getLogger(__name__)

S = ReservationStatus
# A PaymentIntent in these states may still succeed: leave the reservation ended and let
# the webhook (or the next charge call) settle it.
PAYMENT_PENDING = frozenset({"processing", "requires_capture"})


def customer_get_or_create(*, email: str) -> str:
    """The Stripe Customer id of `email` (case-insensitive), created once and stored here.

    No lock while Stripe answers: concurrent first bookings of one e-mail send the same
    idempotency key (a digest, no address in Stripe's logs), so Stripe makes one Customer,
    and the first id stored is the one every caller returns. A caller that got another
    Customer all the same (a Stripe that ignores the key, or one past its 24 hours) deletes
    it: nothing else refers to it.
    """
    email = normalize_email(email)
    stored = StripeCustomer.objects.filter(email=email).values_list("stripe_customer_id", flat=True)
    if (customer_id := stored.first()) is not None:
        return customer_id
    digest = hashlib.sha256(f"stripe-customer:{email}".encode()).hexdigest()
    customer_id = gateway.customer_create(email=email, idempotency_key=f"customer-{digest[:32]}")
    StripeCustomer.objects.bulk_create(
        [StripeCustomer(email=email, stripe_customer_id=customer_id)], ignore_conflicts=True
    )
    winner = stored.get()
    if winner != customer_id:
        try:
            gateway.customer_delete(customer_id=customer_id)
        except PaymentError:
            # The winner is stored and this Customer is referred to by nothing: only tidy.
            logger.warning("Could not delete the unused Stripe Customer %s", customer_id)
    return winner


def _idempotency_key(reservation: Reservation, purpose: str) -> str:
    """Stable for one reservation, distinct across databases: a development database that is
    reset reuses ids, and Stripe keeps keys for 24 hours (per account, not per database)."""
    return f"reservation-{reservation.pk}-{reservation.created_at.timestamp():.6f}-{purpose}"


def payment_metadata(*, reservation: Reservation) -> dict[str, str]:
    """What Stripe keeps with the objects made for a reservation: its public id (the integer
    key stays internal) and this deployment's tag, which the webhooks check."""
    return {"reservation": reservation.public_id, "deployment": settings.DEPLOYMENT_TAG}


def _untrusted_reason(
    reservation: Reservation, *, metadata: dict[str, str], customer_id: str | None
) -> str:
    """Why a Stripe object cannot act on `reservation`; empty when it can."""
    if metadata.get("deployment") != settings.DEPLOYMENT_TAG:
        return "its metadata names another deployment"
    if metadata.get("reservation") != reservation.public_id:
        return "its metadata names another reservation"
    if not customer_id or customer_id != reservation.stripe_customer_id:
        return f"its customer {customer_id} is not the reservation's"
    return ""


def _payment_intent_untrusted_reason(reservation: Reservation, result: gateway.ChargeResult) -> str:
    reason = _untrusted_reason(
        reservation, metadata=result.metadata, customer_id=result.customer_id
    )
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
    return ""


def _reservation_read(reservation_id: int) -> Reservation:
    """The reservation as it is now, unlocked: what to ask Stripe about."""
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None:
        raise NotFoundError("Reservation not found.")
    return reservation


def _check_takes_a_card(reservation: Reservation) -> None:
    if reservation.status != S.PENDING_PAYMENT:
        raise ConflictError(f"A reservation that is {reservation.status} takes no card.")
    if reservation.hold_expires_at <= timezone.now():
        raise ConflictError("The hold on this spot ran out: book it again.")


def payment_setup_intent_get_or_create(*, reservation_id: int) -> str:
    """The client secret of the reservation's SetupIntent, created on the first call.

    Only while the payment hold is live: after it, the spot may already be someone else's.
    The SetupIntent id is stored before the secret leaves, so a SetupIntent a client can
    confirm is always one this reservation knows. A cancelled one is replaced. When a
    concurrent call recorded another SetupIntent meanwhile, that one's secret is returned.
    """
    reservation = _reservation_read(reservation_id)
    _check_takes_a_card(reservation)
    previous = reservation.stripe_setup_intent_id
    if previous:
        setup_intent = gateway.setup_intent_retrieve(setup_intent_id=previous)
        if setup_intent.status != "canceled":
            return setup_intent.client_secret
    customer_id = reservation.stripe_customer_id or customer_get_or_create(email=reservation.email)
    setup_intent = gateway.setup_intent_create(
        customer_id=customer_id,
        metadata=payment_metadata(reservation=reservation),
        idempotency_key=_idempotency_key(reservation, f"setup-intent-after-{previous or 'none'}"),
    )
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        _check_takes_a_card(reservation)
        recorded = reservation.stripe_setup_intent_id
        if recorded == previous:
            reservation.stripe_customer_id = customer_id
            reservation.stripe_setup_intent_id = setup_intent.id
            reservation.save(
                update_fields=["stripe_customer_id", "stripe_setup_intent_id", "updated_at"]
            )
            return setup_intent.client_secret
    if recorded == setup_intent.id:
        return setup_intent.client_secret
    return gateway.setup_intent_retrieve(setup_intent_id=recorded).client_secret


def payment_setup_confirm(*, reservation_id: int) -> Reservation:
    """Activate the reservation if Stripe says its SetupIntent succeeded; never trust a client.

    Used by the confirm routes and the `setup_intent.succeeded` webhook, in any order and any
    number of times; activation queues the confirmation e-mail, once. A hold that ran out
    and was cancelled (its spot given to someone else) stays cancelled: 409, and nothing
    will be charged. So is a SetupIntent that is not this reservation's
    (UntrustedStripeObject).
    """
    reservation = _reservation_read(reservation_id)
    if reservation.status == S.ACTIVE:
        return reservation
    if reservation.status != S.PENDING_PAYMENT:
        raise ConflictError(f"A reservation that is {reservation.status} cannot be confirmed.")
    if not reservation.stripe_setup_intent_id:
        raise ConflictError("No card has been set up for this reservation yet.")
    setup_intent = gateway.setup_intent_retrieve(setup_intent_id=reservation.stripe_setup_intent_id)
    reason = _untrusted_reason(
        reservation, metadata=setup_intent.metadata, customer_id=setup_intent.customer_id
    )
    if reason:
        # The details (ids, the deployment) are for the log, not for whoever called.
        logger.warning(
            "SetupIntent %s cannot confirm reservation %s: %s",
            setup_intent.id,
            reservation.pk,
            reason,
        )
        raise UntrustedStripeObject("This card set-up does not belong to this reservation.")
    if not setup_intent.succeeded:
        raise ConflictError(f"The card is not set up yet (Stripe says {setup_intent.status}).")
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status == S.ACTIVE:
            return reservation
        if reservation.status != S.PENDING_PAYMENT:
            raise ConflictError(f"A reservation that is {reservation.status} cannot be confirmed.")
        if reservation.stripe_setup_intent_id != setup_intent.id:
            raise ConflictError("The card set-up changed meanwhile: confirm again.")
        return reservation_activate(
            reservation_id=reservation.pk,
            stripe_payment_method_id=setup_intent.payment_method_id or "",
            card_brand=setup_intent.card_brand or "",
            card_last4=setup_intent.card_last4 or "",
        )


def _fail(reservation: Reservation, *, code: str) -> Reservation:
    """Record a failed charge of an ended reservation and tell the driver how to settle.

    Called under the row lock and only from `ended`; the e-mail is queued once.
    """
    reservation = reservation_mark_payment_failed(reservation_id=reservation.pk)
    payment_failed_email_queue(reservation=reservation, error_code=code)
    logger.info("Charge of reservation %s failed: %s", reservation.pk, code)
    return reservation


def _failure_code(result: gateway.ChargeResult) -> str:
    if result.status == "requires_action":
        return "authentication_required"
    return result.decline_code or result.failure_code or result.status


def _settle(
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
    if result.succeeded:
        payment.state, payment.error_code = PaymentState.SUCCEEDED, ""
    elif result.status in PAYMENT_PENDING:
        payment.state = PaymentState.PENDING
    else:
        payment.state, payment.error_code = PaymentState.FAILED, _failure_code(result)
    payment.save(update_fields=["state", "error_code", "updated_at"])
    if result.succeeded:
        if reservation.status in (S.ENDED, S.PAYMENT_FAILED):
            return reservation_mark_paid(reservation_id=reservation.pk)
        return reservation
    if reservation.status != S.ENDED or payment.state == PaymentState.PENDING:
        return reservation
    return _fail(reservation, code=payment.error_code)


def _payment_record(
    reservation: Reservation,
    *,
    attempt: int,
    state: str,
    payment_intent_id: str = "",
    error_code: str = "",
) -> Payment:
    return Payment.objects.create(
        reservation=reservation,
        attempt=attempt,
        amount_cents=reservation.amount_cents,
        currency=gateway.CURRENCY,
        state=state,
        stripe_payment_method_id=reservation.stripe_payment_method_id,
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
            return reservation_mark_paid(reservation_id=reservation.pk)
        payments = list(reservation.payments.order_by("attempt"))
        waiting = [
            p for p in payments if p.state == PaymentState.PENDING and p.stripe_payment_intent_id
        ]
        if waiting:
            result = gateway.payment_intent_retrieve(
                payment_intent_id=waiting[-1].stripe_payment_intent_id
            )
            return _settle(reservation, waiting[-1], result)
        attempt = len(payments) + 1
        if not reservation.stripe_payment_method_id:
            code = "no_payment_method"
            _payment_record(
                reservation, attempt=attempt, state=PaymentState.FAILED, error_code=code
            )
            return _fail(reservation, code=code)
        try:
            result = gateway.payment_intent_charge_off_session(
                customer_id=reservation.stripe_customer_id,
                payment_method_id=reservation.stripe_payment_method_id,
                amount_cents=reservation.amount_cents,
                metadata=payment_metadata(reservation=reservation),
                idempotency_key=_idempotency_key(reservation, f"charge-{attempt}"),
            )
        except CardDeclined as declined:
            code = declined.decline_code or declined.code
            _payment_record(
                reservation,
                attempt=attempt,
                state=PaymentState.FAILED,
                payment_intent_id=declined.payment_intent_id or "",
                error_code=code,
            )
            return _fail(reservation, code=code)
        payment = _payment_record(
            reservation,
            attempt=attempt,
            state=PaymentState.PENDING,
            payment_intent_id=result.payment_intent_id,
        )
        return _settle(reservation, payment, result)


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
        reason = _payment_intent_untrusted_reason(reservation, result)
        if reason:
            raise UntrustedStripeObject(
                f"PaymentIntent {result.payment_intent_id} is ignored for reservation "
                f"{reservation.pk}: {reason}."
            )
        payment = reservation.payments.filter(
            stripe_payment_intent_id=result.payment_intent_id
        ).first() or _payment_record(
            reservation,
            attempt=reservation.payments.count() + 1,
            state=PaymentState.PENDING,
            payment_intent_id=result.payment_intent_id,
        )
        return _settle(reservation, payment, result)


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


WEBHOOK_HANDLERS = {
    "setup_intent.succeeded": _on_setup_intent_succeeded,
    "payment_intent.succeeded": _on_payment_intent,
    "payment_intent.payment_failed": _on_payment_intent,
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
