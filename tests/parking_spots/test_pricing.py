"""Pricing a stay at a NYC meter: hand-computed tables, then properties over real schedules."""

import csv
from datetime import UTC, date, datetime, time, timedelta, timezone
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parking_spots import pricing, schedules
from parking_spots.holidays import nyc_meter_holidays
from parking_spots.models import Holiday
from parking_spots.pricing import (
    FIRST_HOUR,
    LATER_HOURS,
    Quote,
    Segment,
    describe_rule,
    price_stay,
    stay_legal_max_end,
    stay_local_dates,
)
from parking_spots.schedules import COMMERCIAL, PASSENGER, parse_meter_hours
from parking_spots.selectors import holidays_between
from tests.parking_spots.conftest import FULL_EXPORT

NY = ZoneInfo("America/New_York")
MINIMUM = 50
# NYC DOT's 2023 passenger rates (first hour, later hours), as seeded.
MIDTOWN, BELOW_96, ELSEWHERE = (550, 900), (500, 825), (150, 250)
NINE_TO_SEVEN = "2 HR Pas Mon-Sat 0900-1900"
COMMERCIAL_DAYS = "3HR Com Mon-Fri 0700-1800 /6HR Pas Mon-Fri 1800-2400 /6HR Pas Sat 0800-2400"
SUNDAYS = "12HR Pas Sun 0000-2400"  # not in the export: meters a DST change
THANKSGIVING = date(2026, 11, 26)


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NY)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def quote(
    text: str,
    rates: tuple[int, int],
    start: datetime,
    end: datetime,
    *,
    holidays: frozenset[date] = frozenset(),
    minimum: int = MINIMUM,
    vehicle: str = PASSENGER,
    horizon_end: datetime | None = None,
) -> Quote:
    return price_stay(
        schedule=parse_meter_hours(text),
        first_hour_cents=rates[0],
        later_hour_cents=rates[1],
        holidays=holidays,
        start=start,
        end=end,
        minimum_cents=minimum,
        vehicle=vehicle,
        horizon_end=horizon_end,
    )


def first(start: datetime, end: datetime, minutes: int, rate: int, cents: int) -> Segment:
    return Segment(start, end, minutes, rate, cents, FIRST_HOUR)


def later(start: datetime, end: datetime, minutes: int, rate: int, cents: int) -> Segment:
    return Segment(start, end, minutes, rate, cents, LATER_HOURS)


# 2026-03-02 is a Monday, 2026-06-05 a Friday, 2026-03-15 a Sunday.
PRICED = [
    pytest.param(
        NINE_TO_SEVEN,
        MIDTOWN,
        ny(2026, 3, 2, 10),
        ny(2026, 3, 2, 11, 30),
        frozenset(),
        # $5.50 for the first hour + 30 min x $9.00/h = $10.00
        (1000, 90, False),
        [
            first(ny(2026, 3, 2, 10), ny(2026, 3, 2, 11), 60, 550, 550),
            later(ny(2026, 3, 2, 11), ny(2026, 3, 2, 11, 30), 30, 900, 450),
        ],
        id="midtown core, 90 metered minutes",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        BELOW_96,
        ny(2026, 3, 2, 10),
        ny(2026, 3, 2, 11, 1),
        frozenset(),
        # 500 + 825/60 = 513.75
        (514, 61, False),
        [
            first(ny(2026, 3, 2, 10), ny(2026, 3, 2, 11), 60, 500, 500),
            later(ny(2026, 3, 2, 11), ny(2026, 3, 2, 11, 1), 1, 825, 14),
        ],
        id="one minute past the first hour",
    ),
    pytest.param(
        "2HR Pas Mon-Sat 0830-2200",
        ELSEWHERE,
        ny(2026, 3, 2, 21, 30),
        ny(2026, 3, 3, 1),
        frozenset(),
        # Only 21:30-22:00 is metered: 30 x 150 / 60
        (75, 30, False),
        [first(ny(2026, 3, 2, 21, 30), ny(2026, 3, 2, 22), 30, 150, 75)],
        id="across midnight into an unmetered night",
    ),
    pytest.param(
        COMMERCIAL_DAYS,
        MIDTOWN,
        ny(2026, 6, 5, 23),
        ny(2026, 6, 6, 9),
        frozenset(),
        # Friday's last hour, then Saturday from 08:00: the first hour does not restart.
        (1450, 120, False),
        [
            first(ny(2026, 6, 5, 23), ny(2026, 6, 6), 60, 550, 550),
            later(ny(2026, 6, 6, 8), ny(2026, 6, 6, 9), 60, 900, 900),
        ],
        id="across midnight, the first hour is the stay's",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        MIDTOWN,
        ny(2026, 3, 15, 10),
        ny(2026, 3, 15, 14),
        frozenset(),
        (0, 0, False),
        [],
        id="Sunday is free under Mon-Sat",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        MIDTOWN,
        ny(2026, 11, 26, 10),
        ny(2026, 11, 26, 14),
        frozenset({THANKSGIVING}),
        (0, 0, False),
        [],
        id="Thanksgiving is free",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        MIDTOWN,
        ny(2026, 11, 26, 10),
        ny(2026, 11, 26, 14),
        frozenset({date(2026, 11, 25)}),
        # Another day's holiday changes nothing: 550 + 180 x 900 / 60
        (3250, 240, False),
        [
            first(ny(2026, 11, 26, 10), ny(2026, 11, 26, 11), 60, 550, 550),
            later(ny(2026, 11, 26, 11), ny(2026, 11, 26, 14), 180, 900, 2700),
        ],
        id="Thanksgiving without the calendar is billed",
    ),
    pytest.param(
        SUNDAYS,
        MIDTOWN,
        ny(2026, 3, 8, 1),  # EST
        ny(2026, 3, 8, 4),  # EDT: three hours on the wall clock, two in fact
        frozenset(),
        (1450, 120, False),
        [
            first(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), 60, 550, 550),
            later(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), 60, 900, 900),
        ],
        id="spring DST change: 120 minutes",
    ),
    pytest.param(
        SUNDAYS,
        MIDTOWN,
        ny(2026, 11, 1, 0, 30),  # EDT
        ny(2026, 11, 1, 2, 30),  # EST: two hours on the wall clock, three in fact
        frozenset(),
        # 550 + 120 x 900 / 60
        (2350, 180, False),
        [
            first(utc(2026, 11, 1, 4, 30), utc(2026, 11, 1, 5, 30), 60, 550, 550),
            later(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30), 120, 900, 1800),
        ],
        id="autumn DST change: 180 minutes",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        MIDTOWN,
        ny(2026, 3, 2, 8),
        ny(2026, 3, 2, 9, 45),
        frozenset(),
        # 45 x 550 / 60 = 412.5, half-up
        (413, 45, False),
        [first(ny(2026, 3, 2, 9), ny(2026, 3, 2, 9, 45), 45, 550, 413)],
        id="starts before metering begins",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        ELSEWHERE,
        ny(2026, 3, 2, 10),
        ny(2026, 3, 2, 10, 10),
        frozenset(),
        # 10 x 150 / 60 = 25
        (MINIMUM, 10, True),
        [first(ny(2026, 3, 2, 10), ny(2026, 3, 2, 10, 10), 10, 150, 25)],
        id="minimum charge",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        (1, 1),
        ny(2026, 3, 2, 10),
        ny(2026, 3, 2, 10, 1),
        frozenset(),
        # 1/60 of a cent rounds to 0, but a minute was metered: the minimum is due.
        (MINIMUM, 1, True),
        [first(ny(2026, 3, 2, 10), ny(2026, 3, 2, 10, 1), 1, 1, 0)],
        id="a metered minute at a rate too small to round to a cent",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        ELSEWHERE,
        ny(2026, 3, 2, 10),
        ny(2026, 3, 2, 10, 21),
        frozenset(),
        # 21 x 150 / 60 = 52.5
        (53, 21, False),
        [first(ny(2026, 3, 2, 10), ny(2026, 3, 2, 10, 21), 21, 150, 53)],
        id="half a cent rounds up",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        ELSEWHERE,
        ny(2026, 3, 2, 18, 39),
        ny(2026, 3, 3, 9, 21),
        frozenset(),
        # Each segment shows 52.5 -> 53; the total is 42 x 150 / 60 = 105, rounded once.
        (105, 42, False),
        [
            first(ny(2026, 3, 2, 18, 39), ny(2026, 3, 2, 19), 21, 150, 53),
            first(ny(2026, 3, 3, 9), ny(2026, 3, 3, 9, 21), 21, 150, 53),
        ],
        id="the total is rounded once",
    ),
    pytest.param(
        NINE_TO_SEVEN,
        MIDTOWN,
        ny(2026, 3, 2, 18, 59, 30),
        ny(2026, 3, 3, 9, 0, 30),
        frozenset(),
        # 30 s + 30 s of metered time: one started minute, not two.
        (MINIMUM, 1, True),
        [
            first(ny(2026, 3, 2, 18, 59, 30), ny(2026, 3, 2, 19), 1, 550, 9),
            first(ny(2026, 3, 3, 9), ny(2026, 3, 3, 9, 0, 30), 0, 550, 0),
        ],
        id="minutes are counted over the stay's metered time",
    ),
    pytest.param(
        "Rate NOT Available - Please request a NEW PERSO, and Once it is Ready",
        ELSEWHERE,
        ny(2026, 3, 2, 18),
        ny(2026, 3, 2, 20),
        frozenset(),
        # Unknown hours: metered Mon-Sat 09:00-19:00 like most meters.
        (150, 60, False),
        [first(ny(2026, 3, 2, 18), ny(2026, 3, 2, 19), 60, 150, 150)],
        id="unknown hours are priced by the fallback",
    ),
]


@pytest.mark.parametrize(
    ("text", "rates", "start", "end", "holidays", "totals", "segments"), PRICED
)
def test_price(
    text: str,
    rates: tuple[int, int],
    start: datetime,
    end: datetime,
    holidays: frozenset[date],
    totals: tuple[int, int, bool],
    segments: list[Segment],
) -> None:
    priced = quote(text, rates, start, end, holidays=holidays)

    assert (priced.amount_cents, priced.metered_minutes, priced.minimum_applied) == totals
    assert list(priced.segments) == segments
    assert all(part.start.tzinfo is UTC and part.end.tzinfo is UTC for part in priced.segments)


def test_a_commercial_vehicle_pays_the_commercial_hours() -> None:
    monday = ny(2026, 3, 2, 16), ny(2026, 3, 2, 19)
    passenger = quote(COMMERCIAL_DAYS, MIDTOWN, *monday)
    commercial = quote(COMMERCIAL_DAYS, MIDTOWN, *monday, vehicle=COMMERCIAL)

    # A car pays 18:00-19:00 only, and may not be there before 18:00 at all.
    assert (passenger.amount_cents, passenger.metered_minutes) == (550, 60)
    assert (passenger.legal_max_end, passenger.limited_by) == (
        monday[0],
        "commercial vehicles only Mon-Fri 07:00-18:00",
    )
    assert (commercial.amount_cents, commercial.metered_minutes) == (1450, 120)
    assert (commercial.legal_max_end, commercial.limited_by) == (None, "")


def test_an_empty_stay_costs_nothing() -> None:
    at = ny(2026, 3, 2, 10)
    assert quote(NINE_TO_SEVEN, MIDTOWN, at, at) == Quote(0, (), 0, None, "", False)
    assert quote(NINE_TO_SEVEN, MIDTOWN, at, at - timedelta(hours=1)).amount_cents == 0


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        quote(NINE_TO_SEVEN, MIDTOWN, datetime(2026, 3, 2, 10), ny(2026, 3, 2, 11))


@pytest.mark.parametrize(
    ("text", "vehicle", "start", "horizon_end", "legal"),
    [
        pytest.param(
            NINE_TO_SEVEN,
            PASSENGER,
            ny(2026, 3, 2, 10),
            ny(2026, 3, 2, 18),
            (ny(2026, 3, 2, 12), "2-hour limit Mon-Sat 09:00-19:00"),
            id="2-hour limit",
        ),
        pytest.param(
            NINE_TO_SEVEN,
            PASSENGER,
            ny(2026, 3, 2, 8),
            ny(2026, 3, 2, 18),
            (ny(2026, 3, 2, 11), "2-hour limit Mon-Sat 09:00-19:00"),
            id="the limit counts from when metering begins",
        ),
        pytest.param(
            NINE_TO_SEVEN,
            PASSENGER,
            ny(2026, 3, 2, 18),
            ny(2026, 3, 2, 23),
            (None, ""),
            id="the meter stops before the limit is reached",
        ),
        pytest.param(
            NINE_TO_SEVEN,
            PASSENGER,
            ny(2026, 3, 15, 10),
            ny(2026, 3, 16, 12),
            (ny(2026, 3, 16, 11), "2-hour limit Mon-Sat 09:00-19:00"),
            id="a free Sunday, then Monday's limit",
        ),
        pytest.param(
            COMMERCIAL_DAYS,
            PASSENGER,
            ny(2026, 3, 2, 5),
            ny(2026, 3, 2, 10),
            (ny(2026, 3, 2, 7), "commercial vehicles only Mon-Fri 07:00-18:00"),
            id="a commercial window starts mid-stay",
        ),
        pytest.param(
            COMMERCIAL_DAYS,
            PASSENGER,
            ny(2026, 3, 2, 8),
            ny(2026, 3, 2, 10),
            (ny(2026, 3, 2, 8), "commercial vehicles only Mon-Fri 07:00-18:00"),
            id="commercial hours already: no stay is legal",
        ),
        pytest.param(
            COMMERCIAL_DAYS,
            COMMERCIAL,
            ny(2026, 3, 2, 8),
            ny(2026, 3, 2, 17),
            (ny(2026, 3, 2, 11), "3-hour limit Mon-Fri 07:00-18:00"),
            id="a commercial vehicle's own limit",
        ),
        pytest.param(
            NINE_TO_SEVEN,
            PASSENGER,
            ny(2026, 3, 2, 10),
            ny(2026, 3, 2, 10),
            (None, ""),
            id="an empty horizon",
        ),
    ],
)
def test_legal_max_end(
    text: str,
    vehicle: str,
    start: datetime,
    horizon_end: datetime,
    legal: tuple[datetime | None, str],
) -> None:
    assert (
        stay_legal_max_end(
            schedule=parse_meter_hours(text),
            holidays=frozenset(),
            start=start,
            horizon_end=horizon_end,
            vehicle=vehicle,
        )
        == legal
    )


def test_a_quote_says_how_long_the_start_allows() -> None:
    start = ny(2026, 3, 2, 10)
    within = quote(NINE_TO_SEVEN, MIDTOWN, start, ny(2026, 3, 2, 11))
    asked = quote(
        NINE_TO_SEVEN, MIDTOWN, start, ny(2026, 3, 2, 11), horizon_end=start + timedelta(days=1)
    )
    too_long = quote(NINE_TO_SEVEN, MIDTOWN, start, ny(2026, 3, 2, 13))

    assert (within.legal_max_end, within.limited_by) == (None, "")
    assert asked.legal_max_end == too_long.legal_max_end == ny(2026, 3, 2, 12)
    assert asked.limited_by == too_long.limited_by == "2-hour limit Mon-Sat 09:00-19:00"
    assert asked.amount_cents == within.amount_cents == 550
    assert too_long.legal_max_end.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "vehicle", "described"),
    [
        ("30Min Com Mon-Sat 0600-2200", COMMERCIAL, "30-minute limit Mon-Sat 06:00-22:00"),
        ("30Min Com Mon-Sat 0600-2200", PASSENGER, "commercial vehicles only Mon-Sat 06:00-22:00"),
        ("3HR Buses Mon-Sat 0700-1900", PASSENGER, "buses only Mon-Sat 07:00-19:00"),
        (
            "2HR Pas Mon-Wed, Fri, Sat 0900-1900",
            PASSENGER,
            "2-hour limit Mon-Wed, Fri-Sat 09:00-19:00",
        ),
        ("1HR Pas Mon-Thur, Sat 1700-2300", PASSENGER, "1-hour limit Mon-Thu, Sat 17:00-23:00"),
        ("18HR Pas Mon-Sat 0000-2400", PASSENGER, "18-hour limit Mon-Sat 00:00-24:00"),
        ("12HR Pas Mon-Sun 0000-2400", PASSENGER, "12-hour limit daily 00:00-24:00"),
        (
            "2 HR Pas Mon-Sat 0800-1900 Jan-May, Sept-Dec",
            PASSENGER,
            "2-hour limit Mon-Sat 08:00-19:00 (Jan-May, Sep-Dec)",
        ),
    ],
)
def test_rules_are_described_as_posted(text: str, vehicle: str, described: str) -> None:
    assert describe_rule(parse_meter_hours(text).clauses[0], vehicle=vehicle) == described


@pytest.mark.django_db
def test_holidays_are_looked_up_by_new_york_dates() -> None:
    """An evening on Thanksgiving is already the 27th in UTC: the lookup must use NY dates."""
    start, end = ny(2026, 11, 26, 20), ny(2026, 11, 26, 21, 30)
    first_day, last_day = stay_local_dates(start, end)
    by_utc_date = holidays_between(
        start=start.astimezone(UTC).date(), end=end.astimezone(UTC).date()
    )
    late_meter = "2HR Pas Mon-Sat 0830-2200"

    assert (first_day, last_day) == (THANKSGIVING, THANKSGIVING)
    assert holidays_between(start=first_day, end=last_day) == {THANKSGIVING}
    assert quote(late_meter, ELSEWHERE, start, end, holidays=by_utc_date).amount_cents == 275
    assert (
        quote(
            late_meter,
            ELSEWHERE,
            start,
            end,
            holidays=holidays_between(start=first_day, end=last_day),
        ).amount_cents
        == 0
    )


# Properties. Schedules: every distinct Meter_Hours value of the export when it is there, and
# always a reviewed sample of it (the commonest values and each shape the parser knows), plus
# schedules that meter Sundays, which the export lacks, so that DST changes are metered.
REPRESENTATIVE_HOURS = [
    NINE_TO_SEVEN,
    "2 HR Pas Mon-Sat 0800-1900",
    "2 HR Pas Mon-Sat 0830-1900",
    COMMERCIAL_DAYS,
    "3HR Com Mon-Sat 0700-1900",
    "2 HR Pas 0800-1900 Mon-Thur/4Hr Pas 0800-1900 Fri",
    "2HR Pas Mon-Sat 0830-2200",
    "3HR Com Mon-Fri 0700-1800 /2HR Pas Mon-Fri 1800-2200 /2HR Pas Sat 0800-2200",
    "2HR Pas  Mon-Thur 0900-1900 / Fri 0900-1600 / Sat 0900-1100 \u00a0",
    "2 HR Pas Mon-Sat 0800-1900 Jan-May, Sept-Dec /2 HR Pas Mon-Sat 0800-2400 June-Aug",
    "2HR Pas Mon-Sat 0900-1300, 1500-1900",
    "2HR Com Mon-Fri 900-1600 / 2HR Pas 900-1600",
    "3HR Buses Mon-Sat 0700-1900",
    "30Min Com Mon-Sat 0600-2200",
    "11 HR Mon-Sat 0700-1800",
    "4Hr Pas 800-2200 Mon-Sat  10Hr Pas 2200-800 Mon-Sat",
    "18HR Pas Mon-Sat 0000-2400",
    "1HR Pas Mon-Thur, Sat 1700-2300",
    "Rate NOT Available - Please request a NEW PERSO, and Once it is Ready",
    "",
    SUNDAYS,
    "12HR Pas Mon-Sun 0000-2400",
    "1HR Pas Sun 0100-0400",
]


def _export_hours() -> set[str]:
    if not FULL_EXPORT.exists():
        return set()
    with FULL_EXPORT.open(encoding="utf-8", newline="") as csv_file:
        return {row["Meter_Hours"] for row in csv.DictReader(csv_file)}


EXPORT_HOURS = sorted(_export_hours() - set(REPRESENTATIVE_HOURS))
CALENDAR = frozenset(day for year in (2026, 2027) for day, _ in nyc_meter_holidays(year))
SPECIAL_DAYS = [date(2026, 3, 8), date(2026, 11, 1), *(day for day, _ in nyc_meter_holidays(2026))]

# Half from the sample, whose common passenger meters would be drowned among the export's
# many distinct commercial texts.
schedules_ = (
    st.one_of(st.sampled_from(REPRESENTATIVE_HOURS), st.sampled_from(EXPORT_HOURS))
    if EXPORT_HOURS
    else st.sampled_from(REPRESENTATIVE_HOURS)
).map(parse_meter_hours)
ZONE_RATES = [MIDTOWN, BELOW_96, (300, 500), (250, 500), (200, 300), ELSEWHERE]
rates = st.one_of(
    st.sampled_from(ZONE_RATES), st.tuples(st.integers(1, 5000), st.integers(1, 5000))
)
minimums = st.integers(1, 200)
# Mostly passenger cars: a commercial vehicle meters only at the few commercial meters.
vehicles = st.sampled_from([PASSENGER] * 5 + [COMMERCIAL])
# Any day of 2026, a third of the time one next to (or on) a DST change or a holiday, so that
# those are not left to chance; at any New York wall-clock time, to the minute or to the
# microsecond. Hypothesis favours values near zero, so times count from noon and lengths
# from 90 minutes (and from 24 hours): most stays are metered, many cross the first hour
# and some a night.
any_day = st.dates(date(2026, 1, 1), date(2026, 12, 31))
near_a_special_day = st.builds(
    lambda day, offset: day + timedelta(days=offset),
    st.sampled_from(SPECIAL_DAYS),
    st.integers(-1, 1),
)
days = st.one_of(any_day, any_day, near_a_special_day)
clocks = st.one_of(
    st.integers(-12 * 60, 12 * 60 - 1).map(lambda minutes: timedelta(hours=12, minutes=minutes)),
    st.times().map(lambda clock: datetime.combine(date.min, clock) - datetime.min),
)
starts = st.builds(
    lambda day, clock: (datetime.combine(day, time(), NY) + clock).astimezone(UTC), days, clocks
)
lengths = st.one_of(
    st.integers(1 - 90, 24 * 60 - 90).map(lambda minutes: timedelta(minutes=90 + minutes)),
    st.integers(60, 24 * 3600).map(lambda seconds: timedelta(seconds=seconds)),
    st.integers(0, 23 * 3600).map(lambda seconds: timedelta(hours=24, seconds=-seconds)),
)


def price(schedule, rate_pair, start, end, minimum, vehicle=PASSENGER, holidays=CALENDAR):
    return price_stay(
        schedule=schedule,
        first_hour_cents=rate_pair[0],
        later_hour_cents=rate_pair[1],
        holidays=holidays,
        start=start,
        end=end,
        minimum_cents=minimum,
        vehicle=vehicle,
    )


@settings(max_examples=500)
@given(schedules_, rates, minimums, vehicles, starts, lengths)
def test_price_is_the_stepped_rate_of_the_metered_time(
    schedule, rate_pair, minimum, vehicle, start, length
) -> None:
    """(1) never negative; (2) 0 exactly when nothing is metered; and the total is the
    formula on the stay's total metered time, however the segments cut it."""
    priced = price(schedule, rate_pair, start, start + length, minimum, vehicle)
    metered = sum(
        (
            end - begin
            for begin, end, _ in schedule.metered_intervals(
                start, start + length, vehicle=vehicle, holidays=CALENDAR
            )
        ),
        timedelta(0),
    )
    minutes = -(-metered // timedelta(minutes=1))
    cent_minutes = rate_pair[0] * min(minutes, 60) + rate_pair[1] * max(minutes - 60, 0)
    exact = (2 * cent_minutes + 60) // 120

    assert priced.amount_cents >= 0
    assert (priced.amount_cents == 0) == (priced.metered_minutes == 0) == (metered == timedelta(0))
    assert priced.metered_minutes == minutes
    assert priced.amount_cents == (max(exact, minimum) if minutes else 0)
    assert priced.minimum_applied == (minutes > 0 and exact < minimum)
    assert sum(part.minutes for part in priced.segments) == minutes
    assert sum((part.end - part.start for part in priced.segments), timedelta(0)) == metered
    assert sum(part.minutes for part in priced.segments if part.step == FIRST_HOUR) <= 60


@settings(max_examples=500)
@given(schedules_, rates, minimums, vehicles, starts, lengths, st.floats(0, 1))
def test_splitting_a_stay_saves_at_most_the_first_hours_discount(
    schedule, rate_pair, minimum, vehicle, start, length, where
) -> None:
    """(4) [a,b) + [b,c) against [a,c).

    Exactly: the parts' metered minutes add up to the whole's or one more (each part rounds
    its own last minute up). In cents, splitting never bills less than the whole minus
    (later - first rate)+ x min(60, minutes of either part) / 60 (a second "first hour" is
    cheaper when later hours cost more, as at every NYC zone), minus 1 cent for two roundings
    instead of one. The minimum charge only adds to the parts: a part with metered time pays
    at least the minimum, and the whole pays it only when one of them has metered time.
    When the first hour is not the cheaper one, splitting never saves more than that cent.
    """
    end = start + length
    middle = start + (length * where)
    whole = price(schedule, rate_pair, start, end, minimum, vehicle)
    left = price(schedule, rate_pair, start, middle, minimum, vehicle)
    right = price(schedule, rate_pair, middle, end, minimum, vehicle)
    discount = max(rate_pair[1] - rate_pair[0], 0) * min(
        60, left.metered_minutes, right.metered_minutes
    )

    assert left.metered_minutes + right.metered_minutes - whole.metered_minutes in (0, 1)
    assert left.amount_cents + right.amount_cents >= whole.amount_cents - (discount + 90) // 60


@settings(max_examples=500)
@given(schedules_, rates, minimums, vehicles, starts, lengths, lengths)
def test_a_longer_stay_never_costs_less(
    schedule, rate_pair, minimum, vehicle, start, length, more
) -> None:
    """(6) Extending the end, or moving the start earlier, never lowers the price."""
    stay = price(schedule, rate_pair, start, start + length, minimum, vehicle)
    extended = price(schedule, rate_pair, start, start + length + more, minimum, vehicle)
    earlier = price(schedule, rate_pair, start - more, start + length, minimum, vehicle)

    assert extended.amount_cents >= stay.amount_cents
    assert earlier.amount_cents >= stay.amount_cents
    assert extended.metered_minutes >= stay.metered_minutes <= earlier.metered_minutes


class _LaterClock(datetime):
    """A clock set to another moment, in case the pricing ever read one."""

    moment = utc(2029, 7, 1, 12)

    @classmethod
    def now(cls, tz=None):
        return cls.moment.astimezone(tz) if tz else cls.moment.replace(tzinfo=None)

    @classmethod
    def utcnow(cls):
        return cls.moment.replace(tzinfo=None)


@pytest.fixture
def seeded_calendar(db) -> frozenset[date]:
    """The holiday rows the quote reads (seeded by migration; recreated if a test dropped them)."""
    for year in (2026, 2027):
        for day, name in nyc_meter_holidays(year):
            Holiday.objects.get_or_create(date=day, defaults={"name": name})
    return holidays_between(start=date(2026, 1, 1), end=date(2030, 12, 31))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    schedules_,
    rates,
    minimums,
    vehicles,
    starts,
    lengths,
    st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
)
def test_quote_equals_bill_at_end(
    seeded_calendar, schedule, rate_pair, minimum, vehicle, start, length, client_zone
) -> None:
    """(3) and (5): what the driver is quoted is what the stay is billed at its end.

    The function is the same at both times, so the property is about what changes between
    them: the quote gets the stay as the client wrote it (any UTC offset) and the holidays
    `holidays_between` returns for the stay's New York dates (`stay_local_dates`); the bill
    gets the stored UTC datetimes, the whole holiday calendar, and is computed years later
    (every clock the pricing could read says so). The Quote, segments included, is equal.
    """
    end = start + length
    first_day, last_day = stay_local_dates(start, end)
    quoted = price(
        schedule,
        rate_pair,
        start.astimezone(client_zone),
        end.astimezone(client_zone),
        minimum,
        vehicle,
        holidays=holidays_between(start=first_day, end=last_day),
    )
    with (
        mock.patch.object(pricing, "datetime", _LaterClock),
        mock.patch.object(schedules, "datetime", _LaterClock),
        mock.patch("django.utils.timezone.now", lambda: _LaterClock.moment),
    ):
        billed = price(schedule, rate_pair, start, end, minimum, vehicle, holidays=seeded_calendar)

    assert billed == quoted
