"""What a reservation costs, in integer cents: the meter's rule (parking_spots.pricing).

A reservation keeps what it was priced with (`first_hour_cents`, `later_hour_cents` and the
spot's `meter_hours` text at booking), so an operator's later change of a zone's rates or a
spot's hours never changes a bill already made; the quote, the bill so far and the bill at
end all come from `reservation_quote` over those fields and the holiday calendar.

Reservations made before meter pricing carry FLAT_METER_HOURS and first == later == their
hourly rate (migration 0009): metered every minute, holidays included, which is exactly
the flat rule they were booked under (rate x started minutes / 60, half-up, minimum charge;
for rates under 30 cents an hour a one-minute stay now pays the minimum instead of 0). A
row whose rates are both 0 (a free spot under the flat rule) bills nothing.
"""

from datetime import datetime
from decimal import Decimal

from django.conf import settings

from parking_spots.models import ParkingSpot
from parking_spots.pricing import Quote, price_stay, stay_legal_max_end, stay_local_dates
from parking_spots.schedules import parse_meter_hours
from parking_spots.selectors import holidays_between, zone_rates_for
from reservations.models import BILLED_STATUSES, Reservation, ReservationStatus

# The schedule of the flat rule: metered all day, every day, no posted limit, and (only for
# this exact text) no meter holidays. Reservations from before meter pricing carry it, and so
# do the test factories' spots, whose prices must not depend on the day the tests run.
FLAT_METER_HOURS = "Mon-Sun 0000-2400"


def stay_quote(
    *,
    meter_hours: str,
    first_hour_cents: int,
    later_hour_cents: int,
    start: datetime,
    end: datetime,
    horizon_end: datetime | None = None,
) -> Quote:
    """The meter's price of [start, end) under `meter_hours` at these rates (see the module
    docstring of parking_spots.pricing); `horizon_end` as there."""
    return price_stay(
        schedule=parse_meter_hours(meter_hours),
        first_hour_cents=first_hour_cents,
        later_hour_cents=later_hour_cents,
        holidays=_holidays(meter_hours, start, max(end, horizon_end or end)),
        start=start,
        end=end,
        # A free spot (both rates 0) bills nothing, minimum or not: no charge for a zero bill.
        minimum_cents=(
            settings.RESERVATION_MINIMUM_CHARGE_CENTS if first_hour_cents or later_hour_cents else 0
        ),
        horizon_end=horizon_end,
    )


def stay_legal_end(
    *, meter_hours: str, start: datetime, end: datetime
) -> tuple[datetime | None, str]:
    """The latest legal end before `end` of a stay from `start` under `meter_hours`, and the
    posted rule that sets it; (None, "") when nothing stops the stay before `end`."""
    return stay_legal_max_end(
        schedule=parse_meter_hours(meter_hours),
        holidays=_holidays(meter_hours, start, end),
        start=start,
        horizon_end=end,
    )


def _holidays(meter_hours: str, start: datetime, end: datetime) -> frozenset:
    """The meter holidays a stay touches; none under the flat rule."""
    if meter_hours == FLAT_METER_HOURS:
        return frozenset()
    first_day, last_day = stay_local_dates(start, end)
    return holidays_between(start=first_day, end=last_day)


def spot_quote(
    *, spot: ParkingSpot, start: datetime, end: datetime, horizon_end: datetime | None = None
) -> Quote:
    """What booking `spot` for [start, end) would cost now: its zone's current rates."""
    zone = zone_rates_for(spot=spot)
    return stay_quote(
        meter_hours=spot.meter_hours,
        first_hour_cents=zone.first_hour_cents,
        later_hour_cents=zone.later_hour_cents,
        start=start,
        end=end,
        horizon_end=horizon_end,
    )


def reservation_quote(
    reservation: Reservation, *, end: datetime, horizon_end: datetime | None = None
) -> Quote:
    """The price of `reservation` from its start to `end`, with what it was booked with."""
    return stay_quote(
        meter_hours=reservation.meter_hours,
        first_hour_cents=reservation.first_hour_cents,
        later_hour_cents=reservation.later_hour_cents,
        start=reservation.start_time,
        end=end,
        horizon_end=horizon_end,
    )


def reservation_amount_cents(reservation: Reservation, *, end: datetime) -> int:
    """The bill of `reservation` if it ends at `end` (0 when `end` is not after its start)."""
    return reservation_quote(reservation, end=end).amount_cents


def reservation_bill_cents(reservation: Reservation, *, now: datetime) -> int:
    """The final bill once ended, the bill so far while active, nothing before activation."""
    if reservation.status in BILLED_STATUSES:
        return reservation.amount_cents
    if reservation.status == ReservationStatus.ACTIVE:
        return reservation_amount_cents(reservation, end=min(now, reservation.end_time))
    return 0


def cents_to_dollars(cents: int) -> Decimal:
    return Decimal(cents) / 100


def format_dollars(cents: int) -> str:
    return f"${cents_to_dollars(cents):,.2f}"
