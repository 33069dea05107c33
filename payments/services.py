"""Payment state changes: the customer, the SetupIntent, confirmation, the charge, webhooks.

Whatever calls Stripe for a reservation does it holding that reservation's row lock (lock,
re-check, change, as pretix does). The lock is held across the network call on purpose: a
second caller (a retried task, a duplicate webhook, a double-clicked confirm) waits, then
finds the first one's result recorded and acts on that instead of calling Stripe again. A
slow Stripe therefore makes those callers wait, up to the gateway's timeout and retries; one
reservation's calls are rare, so that is the price of exactly once. Stripe's idempotency keys
are the second guard, for a response lost on the way back; localstripe ignores them, so the
tests prove the database guard on its own.

Whatever comes back from Stripe by a webhook is checked against what it claims to settle
before anything changes: the metadata's deployment tag and reservation, the customer, and
for a payment the amount, currency and recorded id. One Stripe account may serve several
deployments, and anyone can create a PaymentIntent that names someone else's reservation.
"""

import hashlib
import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from payments import gateway
from payments.emails import send_payment_failed_email
from payments.exceptions import CardDeclined, UnknownStripeObject, UntrustedStripeObject
from payments.models import StripeCustomer, StripeWebhookEvent
from reservations.models import Reservation, ReservationStatus
from reservations.services import (
    reservation_activate,
    reservation_lock,
    reservation_mark_paid,
    reservation_mark_payment_failed,
    reservation_send_confirmation_email,
)
from secure_my_spot.db import after_commit
from secure_my_spot.exceptions import ConflictError, NotFoundError
from users.models import normalize_email

logger = logging.getLogger(__name__)

S = ReservationStatus
# A PaymentIntent in these states may still succeed: leave the reservation ended and let
# the webhook (or the next charge call) settle it.
PAYMENT_PENDING = frozenset({"processing", "requires_capture"})


def _email_digest(email: str) -> bytes:
    return hashlib.sha256(f"stripe-customer:{email}".encode()).digest()


def customer_get_or_create(*, email: str) -> str:
    """The Stripe Customer id of `email` (case-insensitive), created once and stored here.

    A transaction-level advisory lock per e-mail makes concurrent first bookings wait for
    the one that creates the Customer instead of each creating one; the idempotency key
    (a digest, no address in Stripe's logs) covers a retry after a lost response.
    """
    email = normalize_email(email)
    digest = _email_digest(email)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], signed=True)]
            )
        stored = StripeCustomer.objects.filter(email=email).first()
        if stored is not None:
            return stored.stripe_customer_id
        customer_id = gateway.customer_create(
            email=email, idempotency_key=f"customer-{digest.hex()[:32]}"
        )
        StripeCustomer.objects.create(email=email, stripe_customer_id=customer_id)
    return customer_id


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
    recorded = reservation.stripe_payment_intent_id
    if recorded and recorded != result.payment_intent_id:
        return f"the reservation recorded PaymentIntent {recorded}: left for an operator"
    return ""


def payment_setup_intent_get_or_create(*, reservation_id: int) -> str:
    """The client secret of the reservation's SetupIntent, created on the first call.

    Only while the payment hold is live: after it, the spot may already be someone else's.
    The SetupIntent id is stored before the secret leaves, so a SetupIntent a client can
    confirm is always one this reservation knows. A cancelled one is replaced.
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status != S.PENDING_PAYMENT:
            raise ConflictError(f"A reservation that is {reservation.status} takes no card.")
        if reservation.hold_expires_at <= timezone.now():
            raise ConflictError("The hold on this spot ran out: book it again.")
        previous = reservation.stripe_setup_intent_id
        if previous:
            setup_intent = gateway.setup_intent_retrieve(setup_intent_id=previous)
            if setup_intent.status != "canceled":
                return setup_intent.client_secret
        customer_id = reservation.stripe_customer_id or customer_get_or_create(
            email=reservation.email
        )
        setup_intent = gateway.setup_intent_create(
            customer_id=customer_id,
            metadata=payment_metadata(reservation=reservation),
            idempotency_key=_idempotency_key(
                reservation, f"setup-intent-after-{previous or 'none'}"
            ),
        )
        reservation.stripe_customer_id = customer_id
        reservation.stripe_setup_intent_id = setup_intent.id
        reservation.save(
            update_fields=["stripe_customer_id", "stripe_setup_intent_id", "updated_at"]
        )
    return setup_intent.client_secret


def _send_confirmation_after_commit(reservation_id: int) -> None:
    """The send is claimed once per reservation, so scheduling it again never sends twice but
    retries one that failed."""
    after_commit(reservation_send_confirmation_email, reservation_id=reservation_id)


def payment_setup_confirm(*, reservation_id: int) -> Reservation:
    """Activate the reservation if Stripe says its SetupIntent succeeded; never trust a client.

    Used by the confirm routes and the `setup_intent.succeeded` webhook, in any order and any
    number of times. A hold that ran out and was cancelled (its spot given to someone else)
    stays cancelled: 409, and nothing will be charged. So is a SetupIntent that is not this
    reservation's (UntrustedStripeObject).
    """
    with transaction.atomic():
        reservation = reservation_lock(reservation_id=reservation_id)
        if reservation.status == S.ACTIVE:
            _send_confirmation_after_commit(reservation.pk)
            return reservation
        if reservation.status != S.PENDING_PAYMENT:
            raise ConflictError(f"A reservation that is {reservation.status} cannot be confirmed.")
        if not reservation.stripe_setup_intent_id:
            raise ConflictError("No card has been set up for this reservation yet.")
        setup_intent = gateway.setup_intent_retrieve(
            setup_intent_id=reservation.stripe_setup_intent_id
        )
        reason = _untrusted_reason(
            reservation, metadata=setup_intent.metadata, customer_id=setup_intent.customer_id
        )
        if reason:
            raise UntrustedStripeObject(
                f"SetupIntent {setup_intent.id} cannot confirm this reservation: {reason}."
            )
        if not setup_intent.succeeded:
            raise ConflictError(
                f"The card is not set up yet (Stripe says {setup_intent.status}).",
            )
        reservation = reservation_activate(
            reservation_id=reservation.pk,
            stripe_payment_method_id=setup_intent.payment_method_id or "",
            card_brand=setup_intent.card_brand or "",
            card_last4=setup_intent.card_last4 or "",
        )
        _send_confirmation_after_commit(reservation.pk)
    return reservation


def _fail(reservation: Reservation, *, code: str, payment_intent_id: str = "") -> Reservation:
    """Record a failed charge of an ended reservation and tell the driver how to settle.

    Called under the row lock and only from `ended`, so the e-mail goes out once.
    """
    reservation = reservation_mark_payment_failed(
        reservation_id=reservation.pk,
        error_code=code,
        stripe_payment_intent_id=payment_intent_id,
    )
    after_commit(send_payment_failed_email, reservation_id=reservation.pk)
    logger.info("Charge of reservation %s failed: %s", reservation.pk, code)
    return reservation


def _settle(reservation: Reservation, result: gateway.ChargeResult) -> Reservation:
    """Bring a locked reservation in line with its PaymentIntent; repeatable.

    A success also settles a `payment_failed` reservation (the driver completed the payment
    with Stripe later); a failure only counts for a reservation still waiting on it.
    """
    if result.succeeded:
        if reservation.status in (S.ENDED, S.PAYMENT_FAILED):
            return reservation_mark_paid(
                reservation_id=reservation.pk, stripe_payment_intent_id=result.payment_intent_id
            )
        return reservation
    if reservation.status != S.ENDED or result.status in PAYMENT_PENDING:
        return reservation
    code = result.decline_code or result.failure_code
    if result.status == "requires_action":
        code = "authentication_required"
    return _fail(
        reservation, code=code or result.status, payment_intent_id=result.payment_intent_id
    )


def payment_charge_reservation(*, reservation_id: int) -> Reservation:
    """Charge an ended reservation's bill to its saved card, once, however often it is called.

    Under the row lock: a paid or failed reservation is returned as it is; a recorded
    PaymentIntent is asked for its outcome, never charged again; otherwise one PaymentIntent
    is created and its id recorded in the same transaction. A zero bill is paid without
    calling Stripe (whose smallest charge is 50 cents). The idempotency key is the reservation
    and attempt number, where `charge_attempts` counts charges Stripe answered: a network
    error leaves it (and everything else) as it was, so the retry sends the same key and
    real Stripe returns the PaymentIntent a lost response may have created.

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
        if reservation.stripe_payment_intent_id:
            result = gateway.payment_intent_retrieve(
                payment_intent_id=reservation.stripe_payment_intent_id
            )
            return _settle(reservation, result)
        if not reservation.stripe_payment_method_id:
            return _fail(reservation, code="no_payment_method")
        attempt = reservation.charge_attempts + 1
        try:
            result = gateway.payment_intent_charge_off_session(
                customer_id=reservation.stripe_customer_id,
                payment_method_id=reservation.stripe_payment_method_id,
                amount_cents=reservation.amount_cents,
                metadata=payment_metadata(reservation=reservation),
                idempotency_key=_idempotency_key(reservation, f"charge-{attempt}"),
            )
        except CardDeclined as declined:
            reservation.charge_attempts = attempt
            reservation.save(update_fields=["charge_attempts", "updated_at"])
            return _fail(
                reservation,
                code=declined.decline_code or declined.code,
                payment_intent_id=declined.payment_intent_id or "",
            )
        reservation.charge_attempts = attempt
        reservation.stripe_payment_intent_id = result.payment_intent_id
        reservation.save(
            update_fields=["charge_attempts", "stripe_payment_intent_id", "updated_at"]
        )
        return _settle(reservation, result)


def payment_intent_reconcile(*, payment_intent_id: str) -> Reservation:
    """Settle the reservation of a PaymentIntent as Stripe reports it now (for webhooks).

    The reservation is the one the metadata names, and only a PaymentIntent this deployment
    made for its bill counts (UntrustedStripeObject otherwise, changing nothing). One whose
    charge never committed (a crash after Stripe answered) is then recorded, so the next
    charge call reuses it instead of charging.
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
        if not reservation.stripe_payment_intent_id and reservation.status == S.ENDED:
            reservation.stripe_payment_intent_id = result.payment_intent_id
            reservation.save(update_fields=["stripe_payment_intent_id", "updated_at"])
        return _settle(reservation, result)


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
    """Verify a Stripe event and act on it once; False for an event already handled.

    The event's row is inserted in the transaction that acts on it: a concurrent delivery of
    the same event waits on the unique index and then sees it handled, and a failure that
    should make Stripe retry (Stripe unreachable) rolls the row back with everything else.
    The payload is only trusted for the object's id; its state is fetched from Stripe again
    and checked against the reservation it claims. An object that is not this deployment's
    or does not match, or a reservation that is not found or not in a state for the event,
    is logged (WARNING, with the reason) and done: Stripe gets its 2xx and nothing changes.
    So is an object Stripe itself no longer knows (a 404 on the re-fetch): retrying cannot
    change that answer. The reason is kept on the event's row.
    """
    event = gateway.webhook_event_construct(payload=payload, signature=signature)
    with transaction.atomic():
        _, created = StripeWebhookEvent.objects.get_or_create(
            event_id=event.id, defaults={"type": event.type}
        )
        if not created:
            return False
        handler = WEBHOOK_HANDLERS.get(event.type)
        outcome = ""
        if handler is not None and event.object_id:
            try:
                handler(event.object_id)
            except (ConflictError, NotFoundError, UnknownStripeObject) as exc:
                outcome = f"Not applied: {exc}"
                logger.warning("Stripe event %s (%s) not applied: %s", event.id, event.type, exc)
        StripeWebhookEvent.objects.filter(event_id=event.id).update(
            processed_at=timezone.now(), outcome=outcome
        )
    return True
