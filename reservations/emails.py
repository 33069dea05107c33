"""Reservation e-mails: plain text and HTML, New York times with the zone, dollars.

Each is queued in the transaction of the change it reports (outbox/), so it is sent once
that change commits and never for one that rolled back. A guest's e-mails carry the signed
link that manages the reservation; an account's do not (its owner signs in).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from outbox.models import OutboundEmail
from outbox.services import email_queue
from parking_spots.pricing import Segment
from reservations.links import reservation_link_url
from reservations.models import Reservation
from reservations.pricing import format_dollars, reservation_amount_cents
from reservations.selectors import reservation_free_cancel_until

SUBJECTS = {
    "confirmed": "Your parking reservation is confirmed",
    "amended": "Your parking reservation has changed",
    "plate": "The plate on your parking reservation has changed",
    # Sent by payments (payments/emails.py), since it carries the receipt.
    "ended": "Your parking reservation has ended",
    "reminder": "Your parking reservation ends soon",
    "starting": "Your parking reservation starts soon",
}
# A reservation gets each of these at most once; 'amended' goes out for every change.
ONCE = frozenset({"confirmed", "reminder", "starting"})


def format_local_time(moment: datetime) -> str:
    """E.g. 'Sun Nov 29 2026, 10:04 AM EST': the zone shown, since DST moves it."""
    local = moment.astimezone(ZoneInfo(settings.DISPLAY_TIME_ZONE))
    return local.strftime("%a %b %d %Y, %I:%M %p %Z")


def format_local_window(start: datetime, end: datetime) -> str:
    """E.g. 'Sun Nov 29 2026, 02:00 PM to 03:00 PM EST'; both in full when the day or the
    zone (a DST change) differs between them."""
    zone = ZoneInfo(settings.DISPLAY_TIME_ZONE)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if (local_start.date(), local_start.tzname()) != (local_end.date(), local_end.tzname()):
        return f"{format_local_time(start)} to {format_local_time(end)}"
    return f"{local_start:%a %b %d %Y, %I:%M %p} to {local_end:%I:%M %p %Z}"


def format_segment(segment: Segment) -> str:
    """A priced stretch of a stay as a person reads it (receipts, the admin), e.g. 'Mon Nov 16
    2026, 06:00 PM to 07:00 PM EST: 60 min at $1.50 per hour (first hour), $1.50'."""
    return (
        f"{format_local_window(segment.start, segment.end)}: {segment.minutes} min at "
        f"{format_dollars(segment.rate_cents_per_hour)} per hour ({segment.step}), "
        f"{format_dollars(segment.amount_cents)}"
    )


def manage_url(reservation: Reservation) -> str:
    """The guest's signed manage link; empty for an account's reservation."""
    return reservation_link_url(reservation=reservation) if reservation.user_id is None else ""


def reservation_email_dedupe_key(*, reservation: Reservation, kind: str) -> str:
    return f"reservation:{reservation.pk}:{kind}"


def reservation_email_queued(*, kind: str) -> Exists:
    """For a reservations query: true when the reservation (`OuterRef("pk")`) has its
    once-only e-mail `kind` queued already (reservation_email_dedupe_key, in SQL)."""
    key = Concat(Value("reservation:"), Cast(OuterRef("pk"), CharField()), Value(f":{kind}"))
    return Exists(OutboundEmail.objects.filter(dedupe_key=key))


# What an e-mail goes stale at: 'ends soon' after the end, 'starts soon' after the start.
STALE_AT = {"reminder": "end_time", "starting": "start_time"}


def _cancellation_policy(reservation: Reservation) -> dict:
    """The cancellation policy as of now, for the templates: whether the stay is still
    ahead, until when it can be cancelled free (empty once that passed), and whether that
    is its start."""
    now = timezone.now()
    free_until = reservation_free_cancel_until(reservation)
    return {
        "upcoming": reservation.start_time > now,
        "free_cancel_until": format_local_time(free_until) if free_until > now else "",
        "free_cancel_at_start": free_until == reservation.start_time,
        "minimum_charge": format_dollars(settings.RESERVATION_MINIMUM_CHARGE_CENTS),
    }


def _rates(reservation: Reservation) -> str:
    """The stepped rates as booked: "$5.50 the first hour, then $9.00 per hour"."""
    first, later = reservation.first_hour_cents, reservation.later_hour_cents
    if first == later:
        return f"{format_dollars(first)} per hour"
    return f"{format_dollars(first)} the first hour, then {format_dollars(later)} per hour"


def format_plate(plate: str, state: str) -> str:
    """E.g. 'ABC1234 (NY)'; empty when the stay names no car."""
    return f"{plate} ({state})" if plate else ""


def reservation_email_queue(*, kind: str, reservation: Reservation) -> None:
    spot = reservation.spot
    context = {
        "reservation": reservation,
        "plate": format_plate(reservation.plate, reservation.plate_state),
        "spot_name": spot.street or f"{spot.lat}, {spot.lng}",
        "start": format_local_time(reservation.start_time),
        "end": format_local_time(reservation.end_time),
        "rate": _rates(reservation),
        "quoted": format_dollars(reservation_amount_cents(reservation, end=reservation.end_time)),
        "manage_url": manage_url(reservation),
        **_cancellation_policy(reservation),
    }
    stale_field = STALE_AT.get(kind)
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
        # "Ends soon" sent after the end (a mail server that was down) would mislead, and
        # so would "starts soon" after the start.
        stale_at=getattr(reservation, stale_field) if stale_field else None,
    )
