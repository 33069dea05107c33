"""What a stay costs at a NYC meter, and how long it may legally last: a pure function.

No database and no clock: callers pass the spot's `MeterSchedule`, its zone's two rates, the
holiday dates (`holidays_between` over `stay_local_dates(start, end)`) and the stay, so the
same inputs give the same `Quote` at quote, booking, change and end.

Rules:
- Only metered time is billed: the parts of the stay inside the posted hours for the
  driver's vehicle class (`MeterSchedule.metered_intervals`). Time outside them (nights,
  Sundays under a Mon-Sat clause, meter holidays) is free. Spots whose hours are unknown or
  blank are metered by `FALLBACK_CLAUSES` (Mon-Sat 09:00-19:00).
- Billed minutes are the started minutes of the stay's total metered time (real UTC time, so
  a DST change neither bills nor forgives an hour), not of each metered piece: a stay that
  meters 18:59:30-19:00 and 09:00-09:00:30 the next morning pays one minute, as the same
  minute would be paid without the night between.
- Stepped rates: the first 60 billed minutes of the stay at `first_hour_cents` per hour,
  every later billed minute at `later_hour_cents`. The first hour does not restart after an
  unmetered gap: one reservation has one first hour, though NYC's meters would start a new
  session the next morning. (The posted time limit does restart after a gap; see
  `MeterSchedule.legal_end`.) A commercial vehicle is priced at the same zone rates.
- Amounts: cents x minutes / 60 computed exactly in integers, rounded half-up once, on the
  total. Each segment carries its own share rounded the same way for display, so the
  segments may add up to a cent or two more or less than the total; the total is the bill.
- Minimum charge: a stay with any billed minute pays at least `minimum_cents`
  (`minimum_applied`). For any rate of 30 cents an hour or more this is exactly today's rule
  (a total above 0 pays the minimum); a stay with nothing metered costs 0 and no charge is
  made, as with today's zero bill.
- Legality (`stay_legal_max_end`): the latest end the posted limits and the commercial or
  bus hours allow for this start, and the rule that sets it, or (None, "") when nothing
  stops the stay before the horizon. A booking or extension past it is refused.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from parking_spots.schedules import (
    BUS,
    COMMERCIAL,
    METER_TIME_ZONE,
    MINUTES_PER_DAY,
    PASSENGER,
    Clause,
    MeterSchedule,
)

FIRST_HOUR, LATER_HOURS = "first hour", "later hours"
FIRST_HOUR_MINUTES = 60
MINUTE = timedelta(minutes=1)

_DAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_ABBREVIATIONS = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_RESERVED_FOR = {COMMERCIAL: "commercial vehicles", BUS: "buses"}


@dataclass(frozen=True)
class Segment:
    """A stretch of metered time at one rate: `minutes` billed in it, its share in cents."""

    start: datetime
    end: datetime
    minutes: int
    rate_cents_per_hour: int
    amount_cents: int
    step: str


@dataclass(frozen=True)
class Quote:
    amount_cents: int
    segments: tuple[Segment, ...]
    metered_minutes: int
    legal_max_end: datetime | None
    limited_by: str
    minimum_applied: bool


def price_stay(
    *,
    schedule: MeterSchedule,
    first_hour_cents: int,
    later_hour_cents: int,
    holidays: frozenset[date],
    start: datetime,
    end: datetime,
    minimum_cents: int,
    vehicle: str = PASSENGER,
    horizon_end: datetime | None = None,
) -> Quote:
    """The bill for [start, end) under the module's rules.

    `legal_max_end` looks as far as `horizon_end` (at least `end`): pass the latest end a
    reservation may have to tell a driver how long this start allows; by default it says
    whether this stay itself is legal (None when it is). An empty stay (end <= start) costs 0.
    """
    start, end = _utc(start), _utc(end)
    segments: list[Segment] = []
    metered = timedelta(0)
    for piece_start, piece_end, _clause in schedule.metered_intervals(
        start, end, vehicle=vehicle, holidays=holidays
    ):
        first_hour_left = timedelta(minutes=FIRST_HOUR_MINUTES) - metered
        cuts = [piece_start, piece_end]
        if timedelta(0) < first_hour_left < piece_end - piece_start:
            cuts.insert(1, piece_start + first_hour_left)
        for part_start, part_end in pairwise(cuts):
            first = metered < timedelta(minutes=FIRST_HOUR_MINUTES)
            rate = first_hour_cents if first else later_hour_cents
            # The minutes that start within this part of the stay's metered time.
            minutes = _started_minutes(metered + (part_end - part_start)) - _started_minutes(
                metered
            )
            metered += part_end - part_start
            segments.append(
                Segment(
                    start=part_start,
                    end=part_end,
                    minutes=minutes,
                    rate_cents_per_hour=rate,
                    amount_cents=_half_up(minutes * rate, 60),
                    step=FIRST_HOUR if first else LATER_HOURS,
                )
            )
    metered_minutes = _started_minutes(metered)
    # Cents x minutes summed exactly; the one rounding is here.
    amount = _half_up(sum(part.minutes * part.rate_cents_per_hour for part in segments), 60)
    minimum_applied = metered_minutes > 0 and amount < minimum_cents
    legal_max_end, limited_by = stay_legal_max_end(
        schedule=schedule,
        holidays=holidays,
        start=start,
        horizon_end=end if horizon_end is None else max(end, _utc(horizon_end)),
        vehicle=vehicle,
    )
    return Quote(
        amount_cents=minimum_cents if minimum_applied else amount,
        segments=tuple(segments),
        metered_minutes=metered_minutes,
        legal_max_end=legal_max_end,
        limited_by=limited_by,
        minimum_applied=minimum_applied,
    )


def stay_legal_max_end(
    *,
    schedule: MeterSchedule,
    holidays: frozenset[date],
    start: datetime,
    horizon_end: datetime,
    vehicle: str = PASSENGER,
) -> tuple[datetime | None, str]:
    """The latest legal end before `horizon_end` for a stay from `start`, and why.

    (None, "") when no posted rule stops the stay before `horizon_end`. `start` itself when
    the curb is reserved for other vehicles already: no stay from there is legal.
    """
    start, horizon_end = _utc(start), _utc(horizon_end)
    if horizon_end <= start:
        return None, ""
    legal_end, clause = schedule.legal_end(start, horizon_end, vehicle=vehicle, holidays=holidays)
    if clause is None:
        return None, ""
    return legal_end.astimezone(UTC), describe_rule(clause, vehicle=vehicle)


def stay_local_dates(start: datetime, end: datetime) -> tuple[date, date]:
    """The first and last New York dates a stay touches: the range of holidays it needs.

    Not the UTC dates: an evening stay in New York is already tomorrow in UTC, and a holiday
    looked up by UTC date would be missed.
    """
    return (
        _utc(start).astimezone(METER_TIME_ZONE).date(),
        _utc(end).astimezone(METER_TIME_ZONE).date(),
    )


def describe_rule(clause: Clause, *, vehicle: str = PASSENGER) -> str:
    """The posted rule as a driver reads it: "2-hour limit Mon-Sat 09:00-19:00", or
    "commercial vehicles only Mon-Fri 07:00-18:00" for a clause that keeps `vehicle` out."""
    where = (
        f"{_ranges(clause.days, _DAY_ABBREVIATIONS, first=0)} "
        f"{_clock(clause.start_minute)}-{_clock(clause.end_minute)}"
    )
    if clause.months is not None:
        where += f" ({_ranges(clause.months, _MONTH_ABBREVIATIONS, first=1)})"
    if not clause.applies_to(vehicle):
        return f"{_RESERVED_FOR.get(clause.vehicle, clause.vehicle)} only {where}"
    if clause.limit_minutes is None:
        return where
    return f"{_duration(clause.limit_minutes)} limit {where}"


def _utc(moment: datetime) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError("pricing needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def _started_minutes(duration: timedelta) -> int:
    return -(-duration // MINUTE)


def _half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _duration(minutes: int) -> str:
    if minutes % MINUTES_PER_DAY == 0 and minutes > MINUTES_PER_DAY:
        return f"{minutes // MINUTES_PER_DAY}-day"
    if minutes % 60 == 0:
        return f"{minutes // 60}-hour"
    return f"{minutes}-minute"


def _ranges(numbers: frozenset[int], names: tuple[str, ...], *, first: int) -> str:
    """{0, 1, 2, 4} -> "Mon-Wed, Fri"; every one of them -> "daily" or "all year"."""
    if len(numbers) == len(names):
        return "daily" if first == 0 else "all year"
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(
        names[run[0] - first] + (f"-{names[run[-1] - first]}" if len(run) > 1 else "")
        for run in runs
    )
