"""The meter holiday calendar: the pure rule, the seeded rows, the selector and the admin."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parking_spots.holidays import nyc_meter_holidays
from parking_spots.models import Holiday
from parking_spots.selectors import holidays_between

HOLIDAYS_ADMIN = "/admin/parking_spots/holiday/"


def test_2026() -> None:
    assert nyc_meter_holidays(2026) == [
        (date(2026, 1, 1), "New Year's Day"),
        (date(2026, 5, 25), "Memorial Day"),
        (date(2026, 7, 3), "Independence Day (observed)"),
        (date(2026, 7, 4), "Independence Day"),
        (date(2026, 9, 7), "Labor Day"),
        (date(2026, 11, 26), "Thanksgiving Day"),
        (date(2026, 12, 25), "Christmas Day"),
    ]


def test_2027_observes_sunday_and_saturday_holidays_on_weekdays() -> None:
    days = dict(nyc_meter_holidays(2027))

    assert days[date(2027, 7, 5)] == "Independence Day (observed)"  # 4 July is a Sunday
    assert days[date(2027, 12, 24)] == "Christmas Day (observed)"  # 25 December, a Saturday
    # New Year's Day 2028 is a Saturday: observed the Friday before, in 2027.
    assert days[date(2027, 12, 31)] == "New Year's Day (observed)"
    assert date(2027, 12, 31) not in dict(nyc_meter_holidays(2028))
    assert dict(nyc_meter_holidays(2028))[date(2028, 1, 1)] == "New Year's Day"


@pytest.mark.parametrize(
    ("year", "count", "thanksgiving", "memorial_day", "labor_day"),
    [
        (2026, 7, date(2026, 11, 26), date(2026, 5, 25), date(2026, 9, 7)),
        (2027, 9, date(2027, 11, 25), date(2027, 5, 31), date(2027, 9, 6)),
        (2028, 6, date(2028, 11, 23), date(2028, 5, 29), date(2028, 9, 4)),
        (2029, 6, date(2029, 11, 22), date(2029, 5, 28), date(2029, 9, 3)),
        (2030, 6, date(2030, 11, 28), date(2030, 5, 27), date(2030, 9, 2)),
    ],
)
def test_holidays_per_year(
    year: int, count: int, thanksgiving: date, memorial_day: date, labor_day: date
) -> None:
    days = dict(nyc_meter_holidays(year))

    assert len(days) == count
    assert days[thanksgiving] == "Thanksgiving Day"
    assert days[memorial_day] == "Memorial Day"
    assert days[labor_day] == "Labor Day"


def test_2004_matches_dots_published_calendar() -> None:
    """DOT's 2004 suspension calendar: its major legal holidays, observed days included."""
    assert [day for day, _ in nyc_meter_holidays(2004)] == [
        date(2004, 1, 1),
        date(2004, 5, 31),
        date(2004, 7, 4),
        date(2004, 7, 5),
        date(2004, 9, 6),
        date(2004, 11, 25),
        date(2004, 12, 24),
        date(2004, 12, 25),
        date(2004, 12, 31),
    ]


@given(st.integers(min_value=1900, max_value=2200))
def test_calendar_rules_hold_every_year(year: int) -> None:
    days = nyc_meter_holidays(year)
    names = dict(days)

    assert [day for day, _ in days] == sorted(names)  # in order, no day twice
    assert all(day.year == year for day in names)
    memorial_day = next(day for day, name in days if name == "Memorial Day")
    assert memorial_day.weekday() == 0 and memorial_day.month == 5 and memorial_day.day > 24
    labor_day = next(day for day, name in days if name == "Labor Day")
    assert labor_day.weekday() == 0 and labor_day.month == 9 and labor_day.day <= 7
    thanksgiving = next(day for day, name in days if name == "Thanksgiving Day")
    assert thanksgiving.weekday() == 3 and thanksgiving.month == 11
    assert 22 <= thanksgiving.day <= 28
    for day, name in days:
        if name.endswith("(observed)"):
            assert day.weekday() in (0, 4)
            actual = day + timedelta(days=1 if day.weekday() == 4 else -1)
            assert actual.weekday() in (5, 6)


@pytest.mark.django_db
def test_seeded_calendar_is_the_rule_for_2026_to_2030() -> None:
    seeded = list(Holiday.objects.values_list("date", "name", "meters_suspended"))

    assert seeded == [
        (day, name, True) for year in range(2026, 2031) for day, name in nyc_meter_holidays(year)
    ]


@pytest.mark.django_db
def test_holidays_between_includes_both_ends_and_only_suspensions() -> None:
    Holiday.objects.filter(date=date(2026, 7, 3)).update(meters_suspended=False)

    assert holidays_between(start=date(2026, 7, 3), end=date(2026, 9, 7)) == frozenset(
        {date(2026, 7, 4), date(2026, 9, 7)}
    )
    assert holidays_between(start=date(2026, 12, 25), end=date(2026, 12, 25)) == {
        date(2026, 12, 25)
    }
    assert holidays_between(start=date(2026, 12, 26), end=date(2026, 12, 31)) == frozenset()
    assert holidays_between(start=date(2026, 12, 31), end=date(2026, 1, 1)) == frozenset()


@pytest.mark.django_db
def test_operator_edits_the_calendar_in_the_admin(admin_client) -> None:
    listing = admin_client.get(HOLIDAYS_ADMIN, {"date__year": "2026"})
    added = admin_client.post(
        f"{HOLIDAYS_ADMIN}add/",
        {"date": "2026-12-31", "name": "Snow emergency", "meters_suspended": "on"},
    )
    christmas = Holiday.objects.get(date=date(2026, 12, 25))
    kept_metered = admin_client.post(
        f"{HOLIDAYS_ADMIN}{christmas.pk}/change/", {"date": "2026-12-25", "name": "Christmas Day"}
    )

    assert listing.status_code == 200
    assert [row.date.year for row in listing.context["cl"].result_list] == [2026] * 7
    assert "Thursday" in listing.content.decode()  # Thanksgiving's weekday
    assert added.status_code == 302 and kept_metered.status_code == 302
    assert holidays_between(start=date(2026, 12, 24), end=date(2026, 12, 31)) == {
        date(2026, 12, 31)
    }
