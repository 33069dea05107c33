"""The posted-hours parser (every value of the NYC export) and the metered parts of a stay."""

import csv
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from parking_spots.nyc_meters import clean
from parking_spots.schedules import (
    ANY,
    BUS,
    COMMERCIAL,
    FALLBACK_CLAUSES,
    METERED,
    NONE,
    PASSENGER,
    UNKNOWN,
    Clause,
    MeterSchedule,
    parse_meter_hours,
)

NY = ZoneInfo("America/New_York")
MON_SAT, MON_FRI, MON_THU = frozenset(range(6)), frozenset(range(5)), frozenset(range(4))
FRI, SAT = frozenset({4}), frozenset({5})

NO_RATE = (
    "Rate NOT Available - Please request a NEW PERSO, and Once it is Ready, "
    "Please Create a New Report"
)
# Reviewed: the only export values that are not a schedule, and why.
REVIEWED_NOT_METERED = {
    "": NONE,  # 31 meters without posted hours
    NO_RATE: UNKNOWN,  # DOT's placeholder for a meter whose rate record is missing
}


def clause(
    days: frozenset[int],
    window: str,
    *,
    vehicle: str = PASSENGER,
    limit: int | None = 120,
    months: frozenset[int] | None = None,
) -> Clause:
    opens, closes = (int(hhmm[:2]) * 60 + int(hhmm[2:]) for hhmm in window.split("-"))
    return Clause(
        days=days,
        start_minute=opens,
        end_minute=closes,
        vehicle=vehicle,
        limit_minutes=limit,
        months=months,
    )


def ny(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=NY)


def test_every_meter_hours_value_in_the_export_is_parsed_or_classified(full_export: Path) -> None:
    with full_export.open(encoding="utf-8", newline="") as csv_file:
        values = {row["Meter_Hours"] for row in csv.DictReader(csv_file)}
    kinds: Counter[str] = Counter()
    unexpected = []
    for value in sorted(values):
        schedule = parse_meter_hours(value)
        kinds[schedule.kind] += 1
        expected = REVIEWED_NOT_METERED.get(value, METERED)
        # The importer stores the text cleaned; it must read the same.
        stored = parse_meter_hours(clean(value))
        if (
            schedule.kind != expected
            or (expected == METERED) != bool(schedule.clauses)
            or (stored.kind, stored.clauses) != (schedule.kind, schedule.clauses)
        ):
            unexpected.append(value)
    assert not unexpected, (
        f"{len(values)} distinct Meter_Hours values, per kind {dict(kinds)}; "
        f"neither parsed nor classified as reviewed: {unexpected}"
    )


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("2 HR Pas Mon-Sat 0900-1900", [clause(MON_SAT, "0900-1900")]),
        ("2HR Pas Mon-Sat 0830-1900", [clause(MON_SAT, "0830-1900")]),
        (
            "3HR Com Mon-Fri 0700-1800 /6HR Pas Mon-Fri 1800-2400 /6HR Pas Sat 0800-2400",
            [
                clause(MON_FRI, "0700-1800", vehicle=COMMERCIAL, limit=180),
                clause(MON_FRI, "1800-2400", limit=360),
                clause(SAT, "0800-2400", limit=360),
            ],
        ),
        # Hours before days.
        (
            "2 HR Pas 0800-1900 Mon-Thur/4Hr Pas 0800-1900 Fri",
            [clause(MON_THU, "0800-1900"), clause(FRI, "0800-1900", limit=240)],
        ),
        # Non-breaking space, doubled spaces; later clauses inherit limit and vehicle.
        (
            "2HR Pas  Mon-Thur 0900-1900 / Fri 0900-1600 / Sat 0900-1100 \u00a0",
            [clause(MON_THU, "0900-1900"), clause(FRI, "0900-1600"), clause(SAT, "0900-1100")],
        ),
        (
            "2 HR Pas Mon-Sat 0800-1900 Jan-May, Sept-Dec /2 HR Pas Mon-Sat 0800-2400 June-Aug",
            [
                clause(MON_SAT, "0800-1900", months=frozenset({1, 2, 3, 4, 5, 9, 10, 11, 12})),
                clause(MON_SAT, "0800-2400", months=frozenset({6, 7, 8})),
            ],
        ),
        (
            "2 HR Pas Mon-Sat 0800-1900 Jan-May, Dec /2 HR Pas Mon, Wed-Sat 0800-1900 June-Nov",
            [
                clause(MON_SAT, "0800-1900", months=frozenset({1, 2, 3, 4, 5, 12})),
                clause(frozenset({0, 2, 3, 4, 5}), "0800-1900", months=frozenset(range(6, 12))),
            ],
        ),
        (
            "2HR Pas Mon-Sat 0900-1300, 1500-1900",
            [clause(MON_SAT, "0900-1300"), clause(MON_SAT, "1500-1900")],
        ),
        # Three-digit times; the passenger clause takes the days of the one before.
        (
            "2HR Com Mon-Fri 900-1600 / 2HR Pas 900-1600",
            [clause(MON_FRI, "0900-1600", vehicle=COMMERCIAL), clause(MON_FRI, "0900-1600")],
        ),
        ("3HR Buses Mon-Sat 0700-1900", [clause(MON_SAT, "0700-1900", vehicle=BUS, limit=180)]),
        (
            "3HR Buses Mon-Fri 1000-1600 / Sat 0700-1900",
            [
                clause(MON_FRI, "1000-1600", vehicle=BUS, limit=180),
                clause(SAT, "0700-1900", vehicle=BUS, limit=180),
            ],
        ),
        (
            "30Min Com Mon-Sat 0600-2200",
            [clause(MON_SAT, "0600-2200", vehicle=COMMERCIAL, limit=30)],
        ),
        ("15HR PasMon-Sat 0700-2200", [clause(MON_SAT, "0700-2200", limit=900)]),
        (
            "2HR Pas Tue, Wed, Fri, Sat 0700-2300 / Mon, Thur 0700-1100, 1230-2300",
            [
                clause(frozenset({1, 2, 4, 5}), "0700-2300"),
                clause(frozenset({0, 3}), "0700-1100"),
                clause(frozenset({0, 3}), "1230-2300"),
            ],
        ),
        (
            "2HR Pas Mon-Wed, Fri, Sat 0900-1900 /2HR Pas Thur 0900-0930, 1100-1900",
            [
                clause(frozenset({0, 1, 2, 4, 5}), "0900-1900"),
                clause(frozenset({3}), "0900-0930"),
                clause(frozenset({3}), "1100-1900"),
            ],
        ),
        ("1HR Pas Mon-Thur, Sat 1700-2300", [clause(MON_THU | SAT, "1700-2300", limit=60)]),
        ("11 HR Mon-Sat 0700-1800", [clause(MON_SAT, "0700-1800", vehicle=ANY, limit=660)]),
        ("2 HR Mon-Sat 1000-1400", [clause(MON_SAT, "1000-1400", vehicle=ANY)]),
        # "Thurs"; the second clause keeps the first one's vehicle class.
        (
            "2 HR Pas Mon-Thurs 1600-1900 / 3HR Fri 1600-1900",
            [clause(MON_THU, "1600-1900"), clause(FRI, "1600-1900", limit=180)],
        ),
        # Commas between clauses instead of slashes.
        (
            "3HR Com Mon-Fri 0700-1900, 2HR Pas Mon-Fri 1900-2200, 2HR Pas Sat 0800-2200",
            [
                clause(MON_FRI, "0700-1900", vehicle=COMMERCIAL, limit=180),
                clause(MON_FRI, "1900-2200"),
                clause(SAT, "0800-2200"),
            ],
        ),
        # No separator at all, and an overnight window: both ends of each listed day.
        (
            "4Hr Pas 800-2200 Mon-Sat  10Hr Pas 2200-800 Mon-Sat",
            [
                clause(MON_SAT, "0800-2200", limit=240),
                clause(MON_SAT, "0000-0800", limit=600),
                clause(MON_SAT, "2200-2400", limit=600),
            ],
        ),
        # Touching windows are one.
        (
            "3HR Com Mon-Fri 1300-1800, 1800-2200 /3HR Pas Sat 1000-2200",
            [
                clause(MON_FRI, "1300-2200", vehicle=COMMERCIAL, limit=180),
                clause(SAT, "1000-2200", limit=180),
            ],
        ),
        ("18HR Pas Mon-Sat 0000-2400", [clause(MON_SAT, "0000-2400", limit=1080)]),
        (
            "2HR PAS Mon-Fri 1300-2200 / 2HR PAS Sat 0900-2200",
            [clause(MON_FRI, "1300-2200"), clause(SAT, "0900-2200")],
        ),
        (
            "3HR Com Mon, Wed, Fri 0700-1900",
            [clause(frozenset({0, 2, 4}), "0700-1900", vehicle=COMMERCIAL, limit=180)],
        ),
        (
            "3HR Pas Tue-Sat 0900-1700 /3HR Pas Mon 1000-1700",
            [
                clause(frozenset({1, 2, 3, 4, 5}), "0900-1700", limit=180),
                clause(frozenset({0}), "1000-1700", limit=180),
            ],
        ),
    ],
)
def test_posted_hours_are_read_into_clauses(text: str, clauses: list[Clause]) -> None:
    schedule = parse_meter_hours(text)
    assert (schedule.kind, schedule.raw, list(schedule.clauses)) == (METERED, text, clauses)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", NONE),
        (" \u00a0 ", NONE),
        (NO_RATE, UNKNOWN),
        ("0HR Pas Mon-Sat 0900-1900", UNKNOWN),
        ("99999999999 HR Pas Mon-Sat 0900-1900", UNKNOWN),
        ("1" * 400 + " HR Pas Mon-Sat 0900-1900", UNKNOWN),
        ("2HR Pas Mon-Sat", UNKNOWN),  # no hours
        ("2HR Pas 0900-1900", UNKNOWN),  # no days
        ("2HR 3HR Pas Mon-Sat 0900-1900", UNKNOWN),
        ("2HR Pas Mon-Sat 0960-1000", UNKNOWN),
        ("2HR Pas Mon-Sat 2500-2600", UNKNOWN),
        ("2HR Pas Mon-Sat 0900-0900", UNKNOWN),
        ("2HR Pas Mon-Sat 2400-0100", UNKNOWN),
        ("2HR Pas Mon Jan Tue 0900-1900", UNKNOWN),
        ("2HR Pas Mon-Sat 0900-1900 except school days", UNKNOWN),
        ("\x00" * 3, UNKNOWN),
        ("x" * 100_000, UNKNOWN),
    ],
)
def test_text_that_is_no_schedule_is_classified_not_raised(text: str, kind: str) -> None:
    schedule = parse_meter_hours(text)
    assert (schedule.kind, schedule.raw, schedule.clauses) == (kind, text, ())
    assert schedule.effective_clauses == FALLBACK_CLAUSES


def test_parsing_is_cached() -> None:
    assert parse_meter_hours("2 HR Pas Mon-Sat 0900-1900") is parse_meter_hours(
        "2 HR Pas Mon-Sat 0900-1900"
    )


@pytest.mark.parametrize(
    ("text", "vehicle", "limit"),
    [
        ("3HR Com Mon-Fri 0700-1800 /6HR Pas Mon-Fri 1800-2400", PASSENGER, 360),
        ("3HR Com Mon-Fri 0700-1800 /6HR Pas Mon-Fri 1800-2400", COMMERCIAL, 180),
        ("3HR Buses Mon-Sat 0700-1900", PASSENGER, 180),
        # Commas for slashes: the passenger limit still counts.
        (
            "3HR Com Mon-Fri 0700-1900, 2HR Pas Mon-Fri 1900-2200, 2HR Pas Sat 0800-2200",
            PASSENGER,
            120,
        ),
        ("11 HR Mon-Sat 0700-1800", BUS, 660),
        (NO_RATE, PASSENGER, None),
    ],
)
def test_shortest_limit_prefers_the_vehicles_own_clauses(
    text: str, vehicle: str, limit: int | None
) -> None:
    assert parse_meter_hours(text).shortest_limit(vehicle=vehicle) == limit


NINE_TO_SEVEN = parse_meter_hours("2 HR Pas Mon-Sat 0900-1900")
ROUND_THE_CLOCK = parse_meter_hours("18HR Pas Mon-Sat 0000-2400")
COMMERCIAL_DAYS = parse_meter_hours(
    "3HR Com Mon-Fri 0700-1800 /6HR Pas Mon-Fri 1800-2400 /6HR Pas Sat 0800-2400"
)


def spans(intervals: list[tuple[datetime, datetime, Clause]]) -> list[tuple[datetime, datetime]]:
    return [(start, end) for start, end, _ in intervals]


def test_a_stay_is_metered_only_inside_the_posted_hours() -> None:
    # Starts before the meter runs, ends within it; then one that runs past the evening.
    morning = NINE_TO_SEVEN.metered_intervals(ny(2026, 3, 2, 8, 30), ny(2026, 3, 2, 9, 45))
    evening = NINE_TO_SEVEN.metered_intervals(ny(2026, 3, 2, 18, 15), ny(2026, 3, 2, 20))
    assert morning == [(ny(2026, 3, 2, 9), ny(2026, 3, 2, 9, 45), NINE_TO_SEVEN.clauses[0])]
    assert spans(evening) == [(ny(2026, 3, 2, 18, 15), ny(2026, 3, 2, 19))]
    assert NINE_TO_SEVEN.metered_intervals(ny(2026, 3, 2, 19), ny(2026, 3, 2, 23)) == []
    assert all(start.tzinfo is UTC for start, _, _ in morning + evening)


def test_a_stay_across_midnight() -> None:
    # 1800-2400 on Friday, then Saturday's own clause from 08:00.
    friday_night = COMMERCIAL_DAYS.metered_intervals(ny(2026, 6, 5, 17), ny(2026, 6, 6, 10))
    assert friday_night == [
        (ny(2026, 6, 5, 18), ny(2026, 6, 6), COMMERCIAL_DAYS.clauses[1]),
        (ny(2026, 6, 6, 8), ny(2026, 6, 6, 10), COMMERCIAL_DAYS.clauses[2]),
    ]
    # One clause on consecutive days: a single interval through midnight.
    through = ROUND_THE_CLOCK.metered_intervals(ny(2026, 6, 2, 22), ny(2026, 6, 3, 3))
    assert spans(through) == [(ny(2026, 6, 2, 22), ny(2026, 6, 3, 3))]


def test_sundays_are_free_when_the_clause_says_mon_sat() -> None:
    weekend = NINE_TO_SEVEN.metered_intervals(ny(2026, 3, 7, 18), ny(2026, 3, 9, 10))
    assert spans(weekend) == [
        (ny(2026, 3, 7, 18), ny(2026, 3, 7, 19)),
        (ny(2026, 3, 9, 9), ny(2026, 3, 9, 10)),
    ]
    assert not NINE_TO_SEVEN.is_metered(ny(2026, 3, 8, 12))
    assert NINE_TO_SEVEN.limit_at(ny(2026, 3, 8, 12)) is None
    assert NINE_TO_SEVEN.limit_at(ny(2026, 3, 9, 12)) == 120


def test_holidays_suspend_the_meter_all_day() -> None:
    thanksgiving = frozenset({date(2026, 11, 26)})
    stay = NINE_TO_SEVEN.metered_intervals(
        ny(2026, 11, 25, 18), ny(2026, 11, 27, 10), holidays=thanksgiving
    )
    assert spans(stay) == [
        (ny(2026, 11, 25, 18), ny(2026, 11, 25, 19)),
        (ny(2026, 11, 27, 9), ny(2026, 11, 27, 10)),
    ]
    assert not NINE_TO_SEVEN.is_metered(ny(2026, 11, 26, 12), holidays=thanksgiving)
    assert NINE_TO_SEVEN.is_metered(ny(2026, 11, 26, 12))


@pytest.mark.parametrize(
    ("day", "whole_day", "early_hours"),
    [
        # 2026-03-08: 02:00 EST becomes 03:00 EDT; 2026-11-01: 02:00 EDT becomes 01:00 EST.
        (date(2026, 3, 8), timedelta(hours=23), timedelta(hours=2)),
        (date(2026, 11, 1), timedelta(hours=25), timedelta(hours=4)),
    ],
)
def test_dst_days_are_as_long_as_the_wall_clock_says(
    day: date, whole_day: timedelta, early_hours: timedelta
) -> None:
    assert day.weekday() == 6
    sundays = parse_meter_hours("1HR Pas Sun 0000-2400")
    early = parse_meter_hours("1HR Pas Sun 0100-0400")
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=NY)
    ((start, end, _),) = sundays.metered_intervals(
        midnight - timedelta(hours=1), midnight + whole_day * 2
    )
    assert (start, end, end - start) == (midnight, midnight + timedelta(days=1), whole_day)
    ((start, end, _),) = early.metered_intervals(midnight, midnight + timedelta(days=1))
    # In UTC: an aware datetime in the repeated hour never equals one in another zone.
    assert (start, end, end - start) == (
        midnight.replace(hour=1).astimezone(UTC),
        midnight.replace(hour=4).astimezone(UTC),
        early_hours,
    )


def test_a_weekend_stay_across_the_spring_change() -> None:
    stay = ROUND_THE_CLOCK.metered_intervals(ny(2026, 3, 7, 20), ny(2026, 3, 9, 2))
    assert spans(stay) == [
        (ny(2026, 3, 7, 20), ny(2026, 3, 8)),
        (ny(2026, 3, 9), ny(2026, 3, 9, 2)),
    ]
    assert sum((end - start for start, end in spans(stay)), timedelta()) == timedelta(hours=6)


def test_months_choose_the_clause() -> None:
    seasonal = parse_meter_hours(
        "2 HR Pas Mon-Sat 0900-1900 Jan-May, Sept-Dec /2 HR Pas Mon-Sat 0900-2400 June-Aug"
    )
    assert seasonal.metered_intervals(ny(2026, 5, 29, 20), ny(2026, 5, 29, 23)) == []
    assert seasonal.metered_intervals(ny(2026, 6, 1, 20), ny(2026, 6, 1, 23)) == [
        (ny(2026, 6, 1, 20), ny(2026, 6, 1, 23), seasonal.clauses[1])
    ]


def test_commercial_hours_block_passenger_cars() -> None:
    start, end = ny(2026, 3, 2, 16), ny(2026, 3, 2, 20)
    assert spans(COMMERCIAL_DAYS.metered_intervals(start, end)) == [(ny(2026, 3, 2, 18), end)]
    assert COMMERCIAL_DAYS.blocked_intervals(start, end) == [
        (start, ny(2026, 3, 2, 18), COMMERCIAL_DAYS.clauses[0])
    ]
    assert spans(COMMERCIAL_DAYS.metered_intervals(start, end, vehicle=COMMERCIAL)) == [
        (start, ny(2026, 3, 2, 18))
    ]
    assert COMMERCIAL_DAYS.blocked_intervals(start, end, vehicle=COMMERCIAL) == []
    assert COMMERCIAL_DAYS.limit_at(ny(2026, 3, 2, 17)) is None
    assert COMMERCIAL_DAYS.limit_at(ny(2026, 3, 2, 17), vehicle=COMMERCIAL) == 180


def test_unknown_hours_are_priced_by_the_fallback() -> None:
    unknown = parse_meter_hours(NO_RATE)
    assert unknown.metered_intervals(ny(2026, 3, 2, 8), ny(2026, 3, 2, 20)) == [
        (ny(2026, 3, 2, 9), ny(2026, 3, 2, 19), FALLBACK_CLAUSES[0])
    ]
    assert unknown.limit_at(ny(2026, 3, 2, 12)) is None


@pytest.mark.parametrize(
    ("schedule", "start", "end", "legal_end", "stopped_by"),
    [
        # The limit counts from 09:00 when the stay starts before the meter runs.
        (NINE_TO_SEVEN, ny(2026, 3, 2, 8), ny(2026, 3, 2, 12), ny(2026, 3, 2, 11), 0),
        # The night between resets the count.
        (NINE_TO_SEVEN, ny(2026, 3, 2, 18), ny(2026, 3, 3, 10), ny(2026, 3, 3, 10), None),
        (ROUND_THE_CLOCK, ny(2026, 3, 2), ny(2026, 3, 3, 12), ny(2026, 3, 2, 18), 0),
        # Into commercial hours: legal until they begin, not at all once they have.
        (COMMERCIAL_DAYS, ny(2026, 3, 2, 19), ny(2026, 3, 3, 8), ny(2026, 3, 3, 7), 0),
        (COMMERCIAL_DAYS, ny(2026, 3, 2, 16), ny(2026, 3, 2, 20), ny(2026, 3, 2, 16), 0),
    ],
)
def test_legal_end(
    schedule: MeterSchedule,
    start: datetime,
    end: datetime,
    legal_end: datetime,
    stopped_by: int | None,
) -> None:
    assert schedule.legal_end(start, end) == (
        legal_end,
        None if stopped_by is None else schedule.clauses[stopped_by],
    )


def test_a_new_limit_is_counted_afresh() -> None:
    stepped = parse_meter_hours("1HR Pas Mon-Sat 0700-1800 /6HR Pas Mon-Sat 1800-2400")
    assert stepped.legal_end(ny(2026, 3, 2, 17, 30), ny(2026, 3, 2, 23)) == (
        ny(2026, 3, 2, 23),
        None,
    )
    # 22:00-08:00 is one run under its 10-hour limit, across midnight.
    overnight = parse_meter_hours("4Hr Pas 800-2200 Mon-Sat  10Hr Pas 2200-800 Mon-Sat")
    assert overnight.legal_end(ny(2026, 3, 2, 21), ny(2026, 3, 3, 9)) == (ny(2026, 3, 3, 9), None)
    assert overnight.legal_end(ny(2026, 3, 2, 21, 30), ny(2026, 3, 3, 12, 30)) == (
        ny(2026, 3, 3, 12),
        overnight.clauses[0],
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        NINE_TO_SEVEN.metered_intervals(datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10))
