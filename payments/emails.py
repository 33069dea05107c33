"""The e-mail that tells a driver a charge failed and how to settle it."""

from django.conf import settings

from reservations.emails import format_local_time, manage_url
from reservations.models import Reservation
from reservations.pricing import format_dollars
from secure_my_spot.mail import send_templated

SUBJECT = "We could not charge your card for your parking reservation"
# Stripe's codes for the failures a driver can act on; anything else reads as a plain decline.
REASONS = {
    "authentication_required": (
        "your bank wants you to approve the payment yourself, which it cannot ask while you "
        "are away"
    ),
    "insufficient_funds": "the card has insufficient funds",
    "expired_card": "the card has expired",
    "no_payment_method": "no card was saved with the reservation",
}
DECLINED = "the bank declined the charge"


def send_payment_failed_email(*, reservation_id: int) -> None:
    reservation = Reservation.objects.select_related("spot").get(pk=reservation_id)
    context = {
        "reservation": reservation,
        "amount": format_dollars(reservation.amount_cents or 0),
        "end": format_local_time(reservation.ended_at or reservation.end_time),
        "reason": REASONS.get(reservation.payment_error_code, DECLINED),
        "manage_url": manage_url(reservation),
    }
    send_templated(
        template="payments/email/payment_failed",
        subject=SUBJECT,
        to=reservation.email,
        context=context,
        # The e-mail says to reply: the answer must reach someone who can take the payment.
        reply_to=settings.PAYMENTS_SUPPORT_EMAIL,
    )
