"""The e-mail that tells a driver a charge failed and how to settle it."""

from django.conf import settings

from outbox.services import email_queue
from reservations.emails import format_local_time, manage_url, reservation_email_dedupe_key
from reservations.models import Reservation
from reservations.pricing import format_dollars

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


def payment_failed_email_queue(*, reservation: Reservation, error_code: str) -> None:
    """Queued with the failure it reports (`error_code`: Stripe's); once per reservation."""
    context = {
        "reservation": reservation,
        "amount": format_dollars(reservation.amount_cents or 0),
        "end": format_local_time(reservation.ended_at or reservation.end_time),
        "reason": REASONS.get(error_code, DECLINED),
        "manage_url": manage_url(reservation),
    }
    email_queue(
        kind="payment_failed",
        template="payments/email/payment_failed",
        subject=SUBJECT,
        to=reservation.email,
        context=context,
        # The e-mail says to reply: the answer must reach someone who can take the payment.
        reply_to=settings.PAYMENTS_SUPPORT_EMAIL,
        dedupe_key=reservation_email_dedupe_key(reservation=reservation, kind="payment_failed"),
    )
