"""What every Stripe object made for a reservation carries, and the checks that one is it."""

from django.conf import settings

from payments import gateway
from payments.models import Payment
from reservations.models import Reservation
from secure_my_spot.exceptions import NotFoundError
from secure_my_spot.locking import row_lock


def idempotency_key(reservation: Reservation, purpose: str) -> str:
    """Stable for one reservation, distinct across databases: a development database that is
    reset reuses ids, and Stripe keeps keys for 24 hours (per account, not per database)."""
    return f"reservation-{reservation.pk}-{reservation.created_at.timestamp():.6f}-{purpose}"


def payment_metadata(*, reservation: Reservation) -> dict[str, str]:
    """What Stripe keeps with the objects made for a reservation: its public id (the integer
    key stays internal) and this deployment's tag, which the webhooks check."""
    return {"reservation": reservation.public_id, "deployment": settings.DEPLOYMENT_TAG}


def untrusted_reason(
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


def reservation_read(reservation_id: int) -> Reservation:
    """The reservation as it is now, unlocked: what to ask Stripe about."""
    reservation = Reservation.objects.filter(pk=reservation_id).first()
    if reservation is None:
        raise NotFoundError("Reservation not found.")
    return reservation


def payment_intent_of(*, payment_intent_id: str | None, charge_id: str | None) -> str:
    """The PaymentIntent a Stripe object names, directly or through its charge (an older
    Refund or Dispute names only the charge)."""
    payment_intent_id = payment_intent_id or (
        charge_id and gateway.charge_payment_intent_id(charge_id=charge_id)
    )
    if not payment_intent_id:
        raise NotFoundError(f"Charge {charge_id} belongs to no PaymentIntent.")
    return payment_intent_id


def payment_id_recorded(*, payment_intent_id: str) -> int:
    """The Payment recorded here for a PaymentIntent; NotFoundError for one that is not
    (another deployment's on a shared account, or one made in Stripe's dashboard)."""
    payment_id = (
        Payment.objects.filter(stripe_payment_intent_id=payment_intent_id)
        .values_list("pk", flat=True)
        .first()
    )
    if payment_id is None:
        raise NotFoundError(f"No payment recorded for PaymentIntent {payment_intent_id}.")
    return payment_id


def payment_lock(*, payment_id: int) -> Payment:
    """A payment's row lock: what serialises writes of its refunds and disputes."""
    payment = row_lock(Payment.objects.filter(pk=payment_id))
    if payment is None:
        raise NotFoundError("Payment not found.")
    return payment
