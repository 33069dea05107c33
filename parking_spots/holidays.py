"""The days New York City suspends its parking meters: a pure calendar.

NYC DOT suspends meters on the six "major legal holidays" of its traffic rules only: New
Year's Day, Memorial Day, Independence Day, Labor Day, Thanksgiving Day and Christmas Day.
On the other alternate-side-parking holidays (Lunar New Year, Good Friday, Veterans Day...)
only street cleaning is suspended and the meters run.

A fixed-date holiday that falls on a weekend is also observed on the nearest weekday: the
Friday before a Saturday, the Monday after a Sunday. DOT's suspension calendars list both
days as major legal holidays (2004's, for one: Independence Day on Sunday 4 July and its
observance on Monday 5 July; Christmas on Saturday 25 December and its observance on Friday
24 December; New Year's Day 2005's on Friday 31 December). So both are here; New Year's Day
observed on 31 December belongs to the year it falls in.
"""

from datetime import date, timedelta

SATURDAY, SUNDAY = 5, 6
MONDAY, THURSDAY = 0, 3


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date | None:
    """The weekday that stands in for a fixed-date holiday on a weekend."""
    if day.weekday() == SATURDAY:
        return day - timedelta(days=1)
    if day.weekday() == SUNDAY:
        return day + timedelta(days=1)
    return None


def nyc_meter_holidays(year: int) -> list[tuple[date, str]]:
    """Every day of `year` on which NYC's meters are suspended, with its name, in date order."""
    days = [
        (_last_weekday(year, 5, MONDAY), "Memorial Day"),
        (_nth_weekday(year, 9, MONDAY, 1), "Labor Day"),
        (_nth_weekday(year, 11, THURSDAY, 4), "Thanksgiving Day"),
    ]
    fixed = [
        (date(year, 1, 1), "New Year's Day"),
        (date(year, 7, 4), "Independence Day"),
        (date(year, 12, 25), "Christmas Day"),
        (date(year + 1, 1, 1), "New Year's Day"),
    ]
    for day, name in fixed:
        if day.year == year:
            days.append((day, name))
        observed = _observed(day)
        if observed is not None and observed.year == year:
            days.append((observed, f"{name} (observed)"))
    return sorted(days)
