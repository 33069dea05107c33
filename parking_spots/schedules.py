"""NYC meter schedules: the export's free-text `Meter_Hours` as clauses, and when they apply.

Pure (no database): pricing and the legality check ask a `MeterSchedule` which parts of a stay
are metered, under which posted limit, and where a passenger car may not stand at all.

Reading rules for the text (every distinct value of the 2023 export parses, see the tests):
- Clauses are separated by "/", or start afresh where a clause that has its hours names a
  part again that it already has, here a limit ("... 0700-1900, 2HR Pas ...",
  "4Hr Pas 800-2200 Mon-Sat  10Hr Pas 2200-800 Mon-Sat"). Parts come in any order
  ("2 HR Pas 0800-1900 Mon-Thur"); commas and case do not matter.
- A clause that omits its limit, vehicle class or days takes them from the clause before
  ("2HR Pas Mon-Thur 0900-1900 / Fri 0900-1600"); months are never inherited. The first
  clause without a vehicle class applies to any vehicle ("11 HR Mon-Sat 0700-1800").
- Several windows on the same days ("0900-1300, 1500-1900") are several clauses; windows
  that touch ("1300-1800, 1800-2200") are one.
- An overnight window ("2200-800") meters both ends of each listed day (00:00-08:00 and
  22:00-24:00), so "Mon-Sat" never meters a Sunday.
- Text that is not a schedule ("Rate NOT Available - ...", or anything this grammar cannot
  read) is kind "unknown"; blank text is kind "none". Both are priced by `FALLBACK_CLAUSES`.

Vehicle classes: a clause applies to its own class, and one without a class to all. A
commercial or bus clause reserves the curb: while one is in force and no clause for the
driver's vehicle is, that vehicle may not park at all (`blocked_intervals`), which is not
the same as unmetered. A passenger clause keeps no one off the curb.

Times are wall-clock times in New York (`METER_TIME_ZONE`); every datetime returned is in
UTC, so that `end - start` is the real elapsed time even across a DST change (subtracting
two datetimes that share a `ZoneInfo` gives wall-clock differences instead).
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

METER_TIME_ZONE = ZoneInfo("America/New_York")
MINUTES_PER_DAY = 24 * 60
# A posted limit beyond a week is a typo, not a limit.
MAX_LIMIT_MINUTES = 7 * MINUTES_PER_DAY

PASSENGER, COMMERCIAL, BUS, ANY = "passenger", "commercial", "bus", "any"
# Classes whose clauses keep every other vehicle off the curb while they are in force.
RESERVING_VEHICLES = frozenset({COMMERCIAL, BUS})

METERED, UNKNOWN, NONE = "metered", "unknown", "none"

MONDAY_TO_SATURDAY = frozenset(range(6))
ALL_MONTHS = None

_DAY_NAMES = {
    0: ("monday", "mon"),
    1: ("tuesday", "tues", "tue"),
    2: ("wednesday", "wed"),
    3: ("thursday", "thurs", "thur", "thu"),
    4: ("friday", "fri"),
    5: ("saturday", "sat"),
    6: ("sunday", "sun"),
}
_MONTH_NAMES = {
    1: ("january", "jan"),
    2: ("february", "feb"),
    3: ("march", "mar"),
    4: ("april", "apr"),
    5: ("may",),
    6: ("june", "jun"),
    7: ("july", "jul"),
    8: ("august", "aug"),
    9: ("september", "sept", "sep"),
    10: ("october", "oct"),
    11: ("november", "nov"),
    12: ("december", "dec"),
}
_VEHICLE_NAMES = {
    "passenger": PASSENGER,
    "pas": PASSENGER,
    "commercial": COMMERCIAL,
    "com": COMMERCIAL,
    "buses": BUS,
    "bus": BUS,
}


def _lookup(names: dict[int, tuple[str, ...]]) -> dict[str, int]:
    return {name: number for number, spellings in names.items() for name in spellings}


_DAYS, _MONTHS = _lookup(_DAY_NAMES), _lookup(_MONTH_NAMES)


def _alternatives(words: dict[str, object]) -> str:
    """Longest spelling first, so that "thurs" is not read as "thu" + "rs"."""
    return "|".join(sorted(words, key=len, reverse=True))


_DAY, _MONTH = _alternatives(_DAYS), _alternatives(_MONTHS)
# No word boundaries: the export writes "15HR PasMon-Sat".
_TOKEN = re.compile(
    rf"""
    (?P<skip>[\s,]+)
    | (?P<slash>/)
    | (?P<limit>(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>hours?|hrs?|minutes?|mins?))
    | (?P<windows>(?P<opens>\d{{3,4}})\s*-\s*(?P<closes>\d{{3,4}}))
    | (?P<vehicle>{_alternatives(_VEHICLE_NAMES)})
    | (?P<days>(?P<first_day>{_DAY})(?:\s*-\s*(?P<last_day>{_DAY}))?)
    | (?P<months>(?P<first_month>{_MONTH})(?:\s*-\s*(?P<last_month>{_MONTH}))?)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Clause:
    """One posted window: on `days` (0 = Monday), from `start_minute` to `end_minute`."""

    days: frozenset[int]
    start_minute: int
    end_minute: int
    vehicle: str
    limit_minutes: int | None
    months: frozenset[int] | None = ALL_MONTHS

    def applies_to(self, vehicle: str) -> bool:
        return self.vehicle in (vehicle, ANY)

    def in_force_on(self, day: date) -> bool:
        return day.weekday() in self.days and (self.months is None or day.month in self.months)


# What pricing assumes when the export gives no usable schedule ("unknown" or "none"): the
# hours most NYC meters keep (Mon-Sat 09:00-19:00, any vehicle) and no limit of its own, so
# such a spot is billed like its neighbours and only the reservation maximum caps a stay.
FALLBACK_CLAUSES = (
    Clause(
        days=MONDAY_TO_SATURDAY,
        start_minute=9 * 60,
        end_minute=19 * 60,
        vehicle=ANY,
        limit_minutes=None,
    ),
)

Interval = tuple[datetime, datetime, Clause]


@dataclass(frozen=True)
class MeterSchedule:
    """The posted hours of one meter: `raw` text, its clauses, and `kind` (METERED, UNKNOWN
    or NONE; only METERED has clauses)."""

    raw: str
    clauses: tuple[Clause, ...]
    kind: str

    @property
    def effective_clauses(self) -> tuple[Clause, ...]:
        """The parsed clauses, or FALLBACK_CLAUSES when the text gave none."""
        return self.clauses if self.kind == METERED else FALLBACK_CLAUSES

    def shortest_limit(self, *, vehicle: str = PASSENGER) -> int | None:
        """The shortest posted limit of the clauses for `vehicle`, else of any clause.

        A stay that long is legal whenever the meter applies, so it serves as a single cap
        (`ParkingSpot.time_limit_minutes`). A curb with only commercial or bus clauses keeps
        their limit rather than none.
        """
        limits = [clause.limit_minutes for clause in self.clauses if clause.limit_minutes]
        own = [
            clause.limit_minutes
            for clause in self.clauses
            if clause.limit_minutes and clause.applies_to(vehicle)
        ]
        return min(own or limits, default=None)

    def metered_intervals(
        self,
        start: datetime,
        end: datetime,
        *,
        vehicle: str = PASSENGER,
        holidays: frozenset[date] = frozenset(),
    ) -> list[Interval]:
        """The parts of [start, end) that `vehicle` pays for, each with its clause.

        Sorted and non-overlapping (where clauses overlap, the earlier one in the text wins);
        pieces of one clause that touch (a 0000-2400 clause on consecutive days) are merged.
        Dates in `holidays` (New York dates) are skipped entirely: meters are suspended.
        """
        return self._intervals(start, end, holidays, lambda clause: clause.applies_to(vehicle))

    def blocked_intervals(
        self,
        start: datetime,
        end: datetime,
        *,
        vehicle: str = PASSENGER,
        holidays: frozenset[date] = frozenset(),
    ) -> list[Interval]:
        """The parts of [start, end) where the curb belongs to other vehicles, with that clause.

        NYC commercial (and bus) meter zones forbid other vehicles while they are in force;
        a stay for `vehicle` that overlaps one of these intervals is not legal. Like meters,
        these zones are suspended on `holidays`.
        """
        own = self.metered_intervals(start, end, vehicle=vehicle, holidays=holidays)
        others = self._intervals(
            start,
            end,
            holidays,
            lambda clause: clause.vehicle in RESERVING_VEHICLES and not clause.applies_to(vehicle),
        )
        return _merge([piece for other in others for piece in _subtract(other, own)])

    def clause_at(
        self, moment: datetime, *, vehicle: str = PASSENGER, holidays: frozenset[date] = frozenset()
    ) -> Clause | None:
        """The clause that meters `vehicle` at `moment`, or None when parking there is free."""
        found = self.metered_intervals(
            moment, moment + timedelta(microseconds=1), vehicle=vehicle, holidays=holidays
        )
        return found[0][2] if found else None

    def is_metered(
        self, moment: datetime, *, vehicle: str = PASSENGER, holidays: frozenset[date] = frozenset()
    ) -> bool:
        return self.clause_at(moment, vehicle=vehicle, holidays=holidays) is not None

    def limit_at(
        self, moment: datetime, *, vehicle: str = PASSENGER, holidays: frozenset[date] = frozenset()
    ) -> int | None:
        """The posted limit in force for `vehicle` at `moment`; None when none applies."""
        clause = self.clause_at(moment, vehicle=vehicle, holidays=holidays)
        return clause.limit_minutes if clause else None

    def legal_end(
        self,
        start: datetime,
        end: datetime,
        *,
        vehicle: str = PASSENGER,
        holidays: frozenset[date] = frozenset(),
    ) -> tuple[datetime, Clause | None]:
        """The latest end (at most `end`) of a legal stay from `start`, and what stops it there.

        The clause is None when the whole stay is legal. Otherwise it is either a clause of
        another vehicle class (the stay runs into `blocked_intervals`; the legal end is where
        that begins, `start` itself when it is blocked already) or the clause whose limit the
        stay would exceed. A limit counts the metered time of one uninterrupted run under the
        same limit, starting at the later of the stay's start and the run's start: unmetered
        time (a night, a Sunday, a holiday) starts the count afresh, and so does a change of
        posted limit (the new regulation is paid for anew).
        """
        blocked = self.blocked_intervals(start, end, vehicle=vehicle, holidays=holidays)
        stop, reason = (blocked[0][0], blocked[0][2]) if blocked else (end, None)
        used, run_end, run_limit = timedelta(0), None, None
        for piece_start, piece_end, clause in self.metered_intervals(
            start, stop, vehicle=vehicle, holidays=holidays
        ):
            if piece_start != run_end or clause.limit_minutes != run_limit:
                used = timedelta(0)
            run_end, run_limit = piece_end, clause.limit_minutes
            if run_limit is None:
                continue
            room = timedelta(minutes=run_limit) - used
            if piece_end - piece_start > room:
                return piece_start + room, clause
            used += piece_end - piece_start
        return stop, reason

    def _intervals(
        self,
        start: datetime,
        end: datetime,
        holidays: frozenset[date],
        wanted: Callable[[Clause], bool],
    ) -> list[Interval]:
        if start.utcoffset() is None or end.utcoffset() is None:
            raise ValueError("metered_intervals needs timezone-aware datetimes")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        clauses = [clause for clause in self.effective_clauses if wanted(clause)]
        pieces: list[Interval] = []
        for day in _local_dates(start, end):
            if day in holidays:
                continue
            claimed: list[Interval] = []
            for clause in clauses:
                if not clause.in_force_on(day):
                    continue
                window = (
                    max(start, _wall_clock(day, clause.start_minute)),
                    min(end, _wall_clock(day, clause.end_minute)),
                    clause,
                )
                if window[0] < window[1]:
                    claimed.extend(_subtract(window, claimed))
            pieces.extend(claimed)
        return _merge(pieces)


def _local_dates(start: datetime, end: datetime) -> Iterator[date]:
    day, last = start.astimezone(METER_TIME_ZONE).date(), end.astimezone(METER_TIME_ZONE).date()
    while day <= last:
        yield day
        day += timedelta(days=1)


def _wall_clock(day: date, minute: int) -> datetime:
    """`minute` past local midnight of `day` (1440 is the next midnight), in UTC."""
    # Adding to an aware datetime moves its wall clock; the offset follows that wall clock.
    local = datetime.combine(day, time(), tzinfo=METER_TIME_ZONE) + timedelta(minutes=minute)
    return local.astimezone(UTC)


def _subtract(piece: Interval, taken: list[Interval]) -> list[Interval]:
    """`piece` without the parts that `taken` covers."""
    remaining = [piece]
    for taken_start, taken_end, _ in taken:
        remaining = [
            part
            for start, end, clause in remaining
            for part in (
                (start, min(end, taken_start), clause),
                (max(start, taken_end), end, clause),
            )
            if part[0] < part[1]
        ]
    return remaining


def _merge(pieces: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end, clause in sorted(pieces, key=lambda piece: (piece[0], piece[1])):
        if merged and merged[-1][1] == start and merged[-1][2] == clause:
            merged[-1] = (merged[-1][0], end, clause)
        else:
            merged.append((start, end, clause))
    return merged


class _Unreadable(Exception):
    """The text is not a schedule this grammar knows."""


@dataclass
class _Group:
    """One clause of the text while it is read: what it names, before inheritance."""

    limit: int | None = None
    vehicle: str | None = None
    days: set[int] = field(default_factory=set)
    months: set[int] = field(default_factory=set)
    windows: list[tuple[int, int]] = field(default_factory=list)

    def names(self, kind: str) -> bool:
        value = getattr(self, kind)
        return bool(value) if isinstance(value, set | list) else value is not None


def _span(first: int, last: int | None, size: int, base: int) -> set[int]:
    """first..last inclusive on a cycle ("Fri-Mon", "Nov-Feb" wrap)."""
    if last is None:
        return {first}
    return {base + (first - base + step) % size for step in range((last - first) % size + 1)}


def _minute(digits: str) -> int:
    hours, minutes = divmod(int(digits), 100)
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        raise _Unreadable(digits)
    return hours * 60 + minutes


def _tokens(text: str) -> Iterator[tuple[str, object]]:
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise _Unreadable(text[position:])
        position = match.end()
        kind = match.lastgroup
        if kind == "limit":
            amount = float(match["amount"]) * (1 if match["unit"].startswith("m") else 60)
            if not 0 < amount <= MAX_LIMIT_MINUTES:
                raise _Unreadable(match[0])
            yield kind, round(amount)
        elif kind == "windows":
            opens, closes = _minute(match["opens"]), _minute(match["closes"])
            if opens in (closes, MINUTES_PER_DAY):
                raise _Unreadable(match[0])
            yield kind, (opens, closes)
        elif kind == "vehicle":
            yield kind, _VEHICLE_NAMES[match[kind]]
        elif kind == "days":
            last = match["last_day"] and _DAYS[match["last_day"]]
            yield kind, _span(_DAYS[match["first_day"]], last, 7, 0)
        elif kind == "months":
            last = match["last_month"] and _MONTHS[match["last_month"]]
            yield kind, _span(_MONTHS[match["first_month"]], last, 12, 1)
        elif kind == "slash":
            yield kind, None


def _groups(text: str) -> list[_Group]:
    """Split the text into clauses; a repeated part after a complete clause starts a new one."""
    groups, current, previous_kind = [], _Group(), None
    for kind, value in _tokens(text):
        if kind == "slash" or (current.windows and current.names(kind) and previous_kind != kind):
            if current != _Group():
                groups.append(current)
            current, previous_kind = _Group(), None
            if kind == "slash":
                continue
        if kind in ("limit", "vehicle"):
            if current.names(kind):
                raise _Unreadable(text)
            setattr(current, kind, value)
        elif kind == "windows":
            current.windows.append(value)
        elif current.names(kind) and previous_kind != kind:
            raise _Unreadable(text)  # "Mon Jan Tue": days split by something else
        else:
            getattr(current, kind).update(value)
        previous_kind = kind
    if current != _Group():
        groups.append(current)
    return groups


def _clauses(text: str) -> tuple[Clause, ...]:
    # The windows of each set of terms (days, vehicle, limit, months), in the order the
    # terms first appear: that order settles overlaps.
    windows: dict[tuple, list[tuple[int, int]]] = {}
    limit, vehicle, days = None, ANY, frozenset()
    for group in _groups(text):
        if not group.windows:
            raise _Unreadable(text)
        limit = group.limit if group.limit is not None else limit
        vehicle = group.vehicle or vehicle
        days = frozenset(group.days) or days
        if not days:
            raise _Unreadable(text)
        spans = windows.setdefault(
            (days, vehicle, limit, frozenset(group.months) or ALL_MONTHS), []
        )
        for opens, closes in group.windows:
            overnight = [(opens, MINUTES_PER_DAY), (0, closes)]
            spans.extend(
                s for s in ([(opens, closes)] if opens < closes else overnight) if s[0] < s[1]
            )
    return _join_touching(windows)


def _join_touching(windows: dict[tuple, list[tuple[int, int]]]) -> tuple[Clause, ...]:
    """Windows that overlap or touch under the same terms become one clause."""
    joined: list[Clause] = []
    for (days, vehicle, limit, months), spans in windows.items():
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        joined.extend(
            Clause(
                days=days,
                start_minute=start,
                end_minute=end,
                vehicle=vehicle,
                limit_minutes=limit,
                months=months,
            )
            for start, end in merged
        )
    return tuple(joined)


@lru_cache(maxsize=4096)
def parse_meter_hours(text: str) -> MeterSchedule:
    """The schedule a `Meter_Hours` text posts; never raises.

    Case, runs of whitespace (non-breaking spaces too) and commas between items do not matter.
    """
    normalised = " ".join(text.split()).casefold()
    if not normalised:
        return MeterSchedule(raw=text, clauses=(), kind=NONE)
    try:
        clauses = _clauses(normalised)
    except _Unreadable:
        return MeterSchedule(raw=text, clauses=(), kind=UNKNOWN)
    if not clauses:
        return MeterSchedule(raw=text, clauses=(), kind=UNKNOWN)
    return MeterSchedule(raw=text, clauses=clauses, kind=METERED)
