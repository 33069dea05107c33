"""Reservation e-mails: plain text and HTML, New York times with the zone, dollars.

Each is queued in the transaction of the change it reports (outbox/), so it is sent once
that change commits and never for one that rolled back. A guest's e-mails carry the signed
link that manages the reservation; an account's do not (its owner signs in).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from outbox.services import email_queue
from reservations.links import reservation_link_url
from reservations.models import Reservation

SUBJECTS = {
    "confirmed": "Your parking reservation is confirmed",
    "amended": "Your parking reservation has changed",
    # Sent by payments (payments/emails.py), since it carries the receipt.
    "ended": "Your parking reservation has ended",
    "reminder": "Your parking reservation ends soon",
}
# A reservation gets each of these at most once; 'amended' goes out for every change.
ONCE = frozenset({"confirmed", "reminder"})


def format_local_time(moment: datetime) -> str:
    """E.g. 'Sun Nov 29 2026, 10:04 AM EST': the zone shown, since DST moves it."""
    local = moment.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE))
    return local.strftime("%a %b %d %Y, %I:%M %p %Z")


def manage_url(reservation: Reservation) -> str:
    """The guest's signed manage link; empty for an account's reservation."""
    return reservation_link_url(reservation=reservation) if reservation.user_id is None else ""


def reservation_email_dedupe_key(*, reservation: Reservation, kind: str) -> str:
    return f"reservation:{reservation.pk}:{kind}"


def reservation_email_queue(*, kind: str, reservation: Reservation) -> None:
    spot = reservation.spot
    context = {
        "reservation": reservation,
        "spot_name": spot.street or f"{spot.lat}, {spot.lng}",
        "start": format_local_time(reservation.start_time),
        "end": format_local_time(reservation.end_time),
        "rate": f"${reservation.rate:.2f}",
        "manage_url": manage_url(reservation),
    }
    email_queue(
        kind=kind,
        template=f"reservations/email/{kind}",
        subject=SUBJECTS[kind],
        to=reservation.email,
        context=context,
        dedupe_key=(
            reservation_email_dedupe_key(reservation=reservation, kind=kind)
            if kind in ONCE
            else None
        ),
        # "Ends soon" sent after the end (a mail server that was down) would mislead.
        stale_at=reservation.end_time if kind == "reminder" else None,
    )
