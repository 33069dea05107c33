"""Parsing of single export rows and of the free-text posted hours."""

from decimal import Decimal

import pytest

from parking_spots.nyc_meters import (
    SkipRow,
    normalise_borough,
    normalise_side,
    parse_row,
    parse_time_limit,
)


@pytest.mark.parametrize(
    ("hours", "minutes"),
    [
        ("2 HR Pas Mon-Sat 0900-1900", 120),
        ("2HR Pas Mon-Sat 0900-1900", 120),
        ("12 HR Pas Mon-Sat 0700-1900", 720),
        ("15HR PasMon-Sat 0700-2200", 900),
        # Commercial first, passenger later: the passenger limit counts.
        ("3HR Com Mon-Fri 0700-1800 /6HR Pas Mon-Fri 1800-2400 /6HR Pas Sat 0800-2400", 360),
        ("1HR Com Mon-Sat 0900-1300 /2HR PAS Mon-Sat 1300-1900", 120),
        # Several passenger limits: the shortest.
        ("2 HR Pas 0800-1900 Mon-Thur/4Hr Pas 0800-1900 Fri", 120),
        ("2 HR Pas Mon-Thurs 1600-1900 / 3HR Fri 1600-1900", 120),
        # A continuation clause without a limit of its own.
        ("2HR Pas  Mon-Thur 0900-1900 / Fri 0900-1600 / Sat 0900-1100 \u00a0", 120),
        # No vehicle class: it applies to passenger cars too.
        ("11 HR Mon-Sat 0700-1800", 660),
        # Only commercial or bus limits: the shortest of those.
        ("30Min Com Mon-Sat 0600-2200", 30),
        ("3HR Com Mon, Wed, Fri 0700-1900", 180),
        ("3HR Buses Mon-Sat 0700-1900", 180),
        # Clauses joined by commas: a passenger car's limit is its own clause's (the text once
        # read as 180 let a car book three hours where the sign allows two).
        ("3HR Com Mon-Fri 0700-1900, 2HR Pas Mon-Fri 1900-2200, 2HR Pas Sat 0800-2200", 120),
        ("", None),
        ("0HR Pas Mon-Sat", None),
        # An absurd limit makes the whole text unknown rather than half-trusted.
        ("99999999999 HR Pas Mon-Sat /2HR Pas Sun", None),
        ("1" * 400 + " HR Pas Mon-Sat", None),
        ("Rate NOT Available - Please request a NEW PERSO, and Once it is Ready", None),
    ],
)
def test_time_limit_from_posted_hours(hours: str, minutes: int | None) -> None:
    assert parse_time_limit(hours) == minutes


@pytest.mark.parametrize(
    ("raw", "borough"),
    [
        ("Manhattan", "Manhattan"),
        ("Brookyln", "Brooklyn"),
        ("QUeens", "Queens"),
        (" staten  island ", "Staten Island"),
        ("Nassau", "Nassau"),
    ],
)
def test_borough_names_are_normalised(raw: str, borough: str) -> None:
    assert normalise_borough(raw) == borough


@pytest.mark.parametrize(
    ("raw", "side"), [("w", "W"), (" n ", "N"), ("Island", "Island"), ("S/s  Island", "S/s Island")]
)
def test_side_of_street_is_normalised(raw: str, side: str) -> None:
    assert normalise_side(raw) == side


def _row(**fields: str) -> dict[str, str]:
    row = {
        "Meter Number": "1000001",
        "Status": "Active",
        "Meter_Hours": "2 HR Pas Mon-Sat 0900-1900",
        "Facility": "On Street",
        "Borough": "Manhattan",
        "On_Street": "West 45 Street",
        "Side_of_Street": "N",
        "From_Street": "8 Avenue",
        "To_Street": "7 Avenue",
        "Latitude": "40.7577841234",
        "Longitude": "-73.985",
        "Location": "POINT (-73.985 40.7577841234)",
    }
    return {**row, **fields}


def test_coordinates_are_rounded_to_six_places() -> None:
    record = parse_row(_row())
    assert (record.lat, record.lng) == (Decimal("40.757784"), Decimal("-73.985000"))


def test_location_wkt_stands_in_for_missing_coordinates() -> None:
    record = parse_row(_row(Latitude="", Longitude="", Location="POINT (-73.99 40.75)"))
    assert (record.lat, record.lng) == (Decimal("40.750000"), Decimal("-73.990000"))


@pytest.mark.parametrize(
    ("lat", "lng"), [("nan", "-73.9"), ("40.7", "inf"), ("91", "-73.9"), ("0", "0"), ("40", "-180")]
)
def test_unusable_coordinates_skip_the_row(lat: str, lng: str) -> None:
    with pytest.raises(SkipRow, match="coordinates"):
        parse_row(_row(Latitude=lat, Longitude=lng, Location=""))


def test_nul_characters_are_dropped() -> None:
    record = parse_row(_row(On_Street="West\x00 45\x00 Street", **{"Meter Number": "10\x0001"}))
    assert (record.street, record.meter_number) == ("West 45 Street", "1001")


def test_overlong_text_is_cut_to_the_column() -> None:
    record = parse_row(_row(On_Street="x" * 400, Side_of_Street="Somewhere very long"))
    assert len(record.street) == 255
    assert len(record.side_of_street) == 16
