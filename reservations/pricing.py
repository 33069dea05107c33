"""What a reservation costs, in integer cents.

Billed minutes are the started minutes of the real (UTC) duration, so a DST change in New
York neither bills nor forgives an hour.
"""

import math
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from reservations.models import BILLED_STATUSES, Reservation, ReservationStatus

CENT = Decimal("0.01")
MINUTE = timedelta(minutes=1)


def billed_minutes(*, start: datetime, end: datetime) -> int:
    # Aware datetimes sharing one tzinfo subtract as wall-clock times: compare in UTC.
    duration = end.astimezone(UTC) - start.astimezone(UTC)
    if duration <= timedelta(0):
        return 0
    return math.ceil(duration / MINUTE)


def amount_cents(*, rate: Decimal, start: datetime, end: datetime) -> int:
    """rate x started minutes / 60, half-up to the cent, never below the minimum charge."""
    minutes = billed_minutes(start=start, end=end)
    cents = int((rate * minutes / 60).quantize(CENT, rounding=ROUND_HALF_UP) / CENT)
    if cents == 0:
        return 0
    return max(cents, settings.RESERVATION_MINIMUM_CHARGE_CENTS)


def reservation_bill_cents(reservation: Reservation, *, now: datetime) -> int:
    """The final bill once ended, the bill so far while active, nothing before activation."""
    if reservation.status in BILLED_STATUSES:
        return reservation.amount_cents
    if reservation.status == ReservationStatus.ACTIVE:
        end = min(now, reservation.end_time)
        return amount_cents(rate=reservation.rate, start=reservation.start_time, end=end)
    return 0


def format_dollars(cents: int) -> str:
    return f"${Decimal(cents) / 100:,.2f}"
