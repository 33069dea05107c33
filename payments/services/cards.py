"""A reservation's card: the Stripe Customer of its e-mail, the SetupIntent, confirmation."""

import hashlib
import logging

from django.db import transaction
from django.utils import timezone

from payments import gateway
from payments.exceptions import PaymentError, UntrustedStripeObject
from payments.models import StripeCustomer
from payments.services.common import (
    idempotency_key,
    payment_metadata,
    reservation_read,
    untrusted_reason,
)
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_activate, reservation_lock
from secure_my_spot.exceptions import ConflictError
from users.models import normalize_email

logger = logging.getLogger(__name__)

S = ReservationStatus


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
    reservation = reservation_read(reservation_id)
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
        idempotency_key=idempotency_key(reservation, f"setup-intent-after-{previous or 'none'}"),
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
    reservation = reservation_read(reservation_id)
    if reservation.status == S.ACTIVE:
        return reservation
    if reservation.status != S.PENDING_PAYMENT:
        raise ConflictError(f"A reservation that is {reservation.status} cannot be confirmed.")
    if not reservation.stripe_setup_intent_id:
        raise ConflictError("No card has been set up for this reservation yet.")
    setup_intent = gateway.setup_intent_retrieve(setup_intent_id=reservation.stripe_setup_intent_id)
    reason = untrusted_reason(
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
