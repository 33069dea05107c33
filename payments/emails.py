"""The payment e-mails: the receipt that ends a stay (with a signed link to it), and how to
settle a charge that failed."""

from django.conf import settings
from django.urls import reverse

from outbox.services import email_queue
from payments.models import Dispute, Refund
from payments.selectors import RECEIPT_LINK, receipt_get
from reservations.emails import (
    SUBJECTS,
    format_local_time,
    manage_url,
    reservation_email_dedupe_key,
)
from reservations.links import reservation_link_token
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


def receipt_link_url(*, reservation: Reservation) -> str:
    """The printable receipt at PUBLIC_BASE_URL (any browser shows a PDF; no client page is
    needed); empty when that origin is unknown, rather than a link that leads nowhere."""
    if not settings.PUBLIC_BASE_URL:
        return ""
    token = reservation_link_token(reservation=reservation, purpose=RECEIPT_LINK)
    path = reverse("receipt-link", kwargs={"token": token})
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}/?format=pdf"


def receipt_email_queue(*, reservation: Reservation) -> None:
    """The 'ended' e-mail, which carries the receipt: queued with the charge's first outcome
    (paid or failed), once per reservation under the key reservations gave it before it
    moved here, so an e-mail already queued by the earlier code is not sent again."""
    receipt = receipt_get(reservation=reservation)
    email_queue(
        kind="ended",
        template="payments/email/ended",
        subject=SUBJECTS["ended"],
        to=reservation.email,
        context={
            "receipt": receipt,
            "amount": format_dollars(receipt.amount_cents),
            "receipt_url": receipt_link_url(reservation=reservation),
            "manage_url": manage_url(reservation),
        },
        dedupe_key=reservation_email_dedupe_key(reservation=reservation, kind="ended"),
    )


REFUND_SUBJECT = "Your parking payment was refunded"


def refund_email_queue(*, refund: Refund) -> None:
    """Queued when a refund succeeds; once per refund, however often Stripe reports it."""
    payment = refund.payment
    reservation = payment.reservation
    email_queue(
        kind="refund",
        template="payments/email/refund",
        subject=REFUND_SUBJECT,
        to=reservation.email,
        context={
            "reservation": reservation,
            "amount": format_dollars(refund.amount_cents),
            "paid": format_dollars(payment.amount_cents),
            "card_last4": payment.card_last4,
            "receipt_url": receipt_link_url(reservation=reservation),
        },
        reply_to=settings.PAYMENTS_SUPPORT_EMAIL,
        dedupe_key=f"refund:{refund.pk}:succeeded",
    )


def dispute_email_queue(*, dispute: Dispute) -> None:
    """Tell the operators (PAYMENTS_SUPPORT_EMAIL, who answer for payments) of a dispute,
    once per status Stripe reports: opened, under review, won, lost..."""
    payment = dispute.payment
    email_queue(
        kind="dispute",
        template="payments/email/dispute",
        subject=f"Dispute {dispute.status} on reservation {payment.reservation.public_id}",
        to=settings.PAYMENTS_SUPPORT_EMAIL,
        context={
            "dispute": dispute,
            "payment": payment,
            "amount": format_dollars(dispute.amount_cents),
            "due": format_local_time(dispute.evidence_due_by) if dispute.evidence_due_by else "",
        },
        dedupe_key=f"dispute:{dispute.stripe_dispute_id}:{dispute.status}",
    )
