"""Reservation e-mails: plain text and HTML, New York times with the zone, dollars."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings

from reservations.models import Reservation
from reservations.pricing import format_dollars
from secure_my_spot.mail import send_templated

SUBJECTS = {
    "confirmed": "Your parking reservation is confirmed",
    "amended": "Your parking reservation has changed",
    "ended": "Your parking reservation has ended",
    "reminder": "Your parking reservation ends soon",
}


def format_local_time(moment: datetime) -> str:
    """E.g. 'Sun Nov 29 2026, 10:04 AM EST': the zone shown, since DST moves it."""
    local = moment.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE))
    return local.strftime("%a %b %d %Y, %I:%M %p %Z")


def send_reservation_email(*, kind: str, reservation: Reservation) -> None:
    spot = reservation.spot
    context = {
        "reservation": reservation,
        "spot_name": spot.street or f"{spot.lat}, {spot.lng}",
        "start": format_local_time(reservation.start_time),
        "end": format_local_time(reservation.ended_at or reservation.end_time),
        "rate": f"${reservation.rate:.2f}",
        "amount": format_dollars(reservation.amount_cents or 0),
    }
    send_templated(
        template=f"reservations/email/{kind}",
        subject=SUBJECTS[kind],
        to=reservation.email,
        context=context,
    )
