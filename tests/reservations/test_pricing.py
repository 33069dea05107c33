from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from reservations.models import Reservation
from reservations.pricing import (
    FLAT_METER_HOURS,
    format_dollars,
    reservation_amount_cents,
    reservation_quote,
)

NY = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
# Christmas 2026, a meter holiday (seeded): the flat rule of older rows bills it all the same.
CHRISTMAS = datetime(2026, 12, 25, 15, 0, tzinfo=UTC)


def flat_row(rate: str, start: datetime = T0) -> Reservation:
    """A reservation as migration 0009 leaves one booked under the flat rule."""
    cents = int(Decimal(rate) * 100)
    return Reservation(
        rate=Decimal(rate),
        first_hour_cents=cents,
        later_hour_cents=cents,
        meter_hours=FLAT_METER_HOURS,
        start_time=start,
    )


def amount_cents(*, rate: Decimal, start: datetime, end: datetime) -> int:
    row = flat_row(str(rate), start)
    return reservation_amount_cents(row, end=end)


def billed_minutes(*, start: datetime, end: datetime) -> int:
    return reservation_quote(flat_row("1.00", start), end=end).metered_minutes


@pytest.mark.parametrize(
    ("duration", "minutes"),
    [
        (timedelta(0), 0),
        (timedelta(seconds=-5), 0),
        (timedelta(microseconds=1), 1),
        (timedelta(seconds=59), 1),
        (timedelta(minutes=1), 1),
        (timedelta(minutes=1, microseconds=1), 2),
        (timedelta(hours=1), 60),
        (timedelta(hours=24), 1440),
    ],
)
def test_billed_minutes_are_started_minutes(duration, minutes):  # flat rule: every minute
    assert billed_minutes(start=T0, end=T0 + duration) == minutes


@pytest.mark.parametrize(
    ("rate", "duration", "cents"),
    [
        ("4.50", timedelta(hours=1), 450),
        ("4.50", timedelta(minutes=30), 225),
        ("4.50", timedelta(minutes=90, seconds=1), 683),  # 91 min: 6.825 -> 6.83 (half up)
        ("1.00", timedelta(minutes=1), 50),  # 2 cents, raised to the minimum
        ("1.00", timedelta(seconds=59), 50),
        ("1.00", timedelta(minutes=30), 50),
        ("1.00", timedelta(minutes=31), 52),  # 51.67 -> 52
        ("0.10", timedelta(minutes=3), 50),  # 0.005 -> 0.01 half up, then the minimum
        ("0.00", timedelta(hours=3), 0),  # a free spot bills nothing, minimum or not
        ("4.50", timedelta(0), 0),
        ("9999.99", timedelta(hours=24), 23999976),
    ],
)
@pytest.mark.parametrize("start", [T0, CHRISTMAS])
def test_rows_booked_before_meter_pricing_bill_the_flat_rule(db, rate, duration, cents, start):
    assert amount_cents(rate=Decimal(rate), start=start, end=start + duration) == cents


def test_minimum_charge_is_a_setting(settings):
    settings.RESERVATION_MINIMUM_CHARGE_CENTS = 75

    assert amount_cents(rate=Decimal("1.00"), start=T0, end=T0 + timedelta(minutes=1)) == 75


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        # Spring forward, 8 March 2026: 01:30 EST to 03:30 EDT is one real hour.
        (datetime(2026, 3, 8, 1, 30, tzinfo=NY), datetime(2026, 3, 8, 3, 30, tzinfo=NY), 60),
        # Fall back, 1 November 2026: 00:30 EDT to 02:30 EST is three real hours.
        (datetime(2026, 11, 1, 0, 30, tzinfo=NY), datetime(2026, 11, 1, 2, 30, tzinfo=NY), 180),
        # The repeated hour: 01:30 EDT (fold=0) to 01:30 EST (fold=1) is one hour.
        (
            datetime(2026, 11, 1, 1, 30, tzinfo=NY),
            datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NY),
            60,
        ),
    ],
)
def test_dst_days_in_new_york_bill_real_time(start, end, minutes):
    assert billed_minutes(start=start, end=end) == minutes
    assert amount_cents(rate=Decimal("6.00"), start=start, end=end) == minutes * 10


@pytest.mark.parametrize(("cents", "text"), [(0, "$0.00"), (50, "$0.50"), (123456, "$1,234.56")])
def test_format_dollars(cents, text):
    assert format_dollars(cents) == text
