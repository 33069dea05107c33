"""The importer against the hand-written quirks file and the full NYC export."""

import csv
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from parking_spots.models import ParkingSpot
from tests.parking_spots.conftest import DATA, import_file

pytestmark = pytest.mark.django_db

QUIRKS = DATA / "meters_quirks.csv"
UPDATE = DATA / "meters_update.csv"


def spot(meter_number: str) -> ParkingSpot:
    return ParkingSpot.objects.get(meter_number=meter_number)


def test_quirks_file_every_row_accounted_for() -> None:
    summary = import_file(QUIRKS)

    assert summary.rows == 22
    assert summary.accounted == summary.rows
    assert (summary.created, summary.updated, summary.deactivated) == (11, 0, 0)
    assert summary.skipped == {
        "no usable coordinates": 2,
        "not on street (facility Off Street)": 1,
        "not on street (facility missing)": 1,
        "status Planned": 1,
        "status missing": 1,
        "retired or inactive meter not in the inventory": 2,
        "no meter number": 1,
        "superseded by a later row for the same meter": 1,
        "malformed row (wrong number of columns)": 1,
    }
    assert ParkingSpot.objects.filter(active=True).count() == 11


def test_quirks_are_normalised() -> None:
    import_file(QUIRKS)

    brooklyn = spot("3000001")
    assert (brooklyn.borough, brooklyn.zone.code, brooklyn.rate, brooklyn.side_of_street) == (
        "Brooklyn",
        "elsewhere",
        Decimal("1.50"),  # the zone's first-hour rate
        "W",
    )
    assert spot("4000001").borough == "Queens"
    steinway = spot("4000002")
    assert steinway.street == "Steinway Street"
    assert steinway.meter_hours == "2HR Pas Mon-Thur 0900-1900 / Fri 0900-1600 / Sat 0900-1100"
    assert steinway.side_of_street == "Island"
    assert spot("1000004").lat == Decimal("40.756000")  # from the WKT Location
    assert spot("1000011").street == "Second Row Street"  # the later row wins


@pytest.mark.parametrize(
    ("meter", "minutes"),
    [
        ("1000001", 120),
        ("1000003", 360),
        ("3000001", 120),
        ("4000001", 120),
        ("4000002", 120),
        ("2000001", None),
        ("2000002", None),
        ("5000001", 30),
    ],
)
def test_time_limit_is_parsed_on_import(meter: str, minutes: int | None) -> None:
    import_file(QUIRKS)
    assert spot(meter).time_limit_minutes == minutes


def test_batch_boundaries_do_not_change_the_result() -> None:
    import_file(QUIRKS, batch_size=2)
    by_batches = list(
        ParkingSpot.objects.order_by("meter_number").values(
            "meter_number", "street", "lat", "lng", "rate", "time_limit_minutes"
        )
    )
    ParkingSpot.objects.all().delete()

    import_file(QUIRKS)
    assert (
        list(
            ParkingSpot.objects.order_by("meter_number").values(
                "meter_number", "street", "lat", "lng", "rate", "time_limit_minutes"
            )
        )
        == by_batches
    )


def test_reimport_changes_nothing() -> None:
    import_file(QUIRKS)
    before = dict(ParkingSpot.objects.values_list("meter_number", "updated_at"))

    again = import_file(QUIRKS)

    assert (again.created, again.updated, again.deactivated, again.unchanged) == (0, 0, 0, 11)
    assert dict(ParkingSpot.objects.values_list("meter_number", "updated_at")) == before


def test_retired_meter_deactivates_its_spot_and_changes_update_it() -> None:
    import_file(QUIRKS)
    retired = spot("1000001")

    summary = import_file(UPDATE)

    assert (summary.deactivated, summary.updated, summary.unchanged) == (1, 1, 1)
    assert summary.skipped == {"retired or inactive meter not in the inventory": 1}
    retired.refresh_from_db()
    assert retired.active is False  # kept, not deleted: reservations reference spots
    assert retired.updated_at > spot("1000003").updated_at
    assert spot("1000002").time_limit_minutes == 60

    repeat = import_file(UPDATE)
    assert (repeat.deactivated, repeat.updated, repeat.unchanged) == (0, 0, 3)


def test_an_import_stamps_what_it_writes_with_one_instant() -> None:
    import_file(QUIRKS, batch_size=2)
    first = set(ParkingSpot.objects.values_list("created_at", "updated_at"))
    assert len(first) == 1
    ((created, updated),) = first
    assert created == updated

    import_file(UPDATE)

    changed, retired = spot("1000002"), spot("1000001")
    assert changed.created_at == created  # found, not created: its first import's time
    assert changed.updated_at == retired.updated_at > created
    assert spot("1000003").updated_at == updated  # unchanged, so not rewritten


def test_active_again_reactivates() -> None:
    import_file(QUIRKS)
    import_file(UPDATE)

    summary = import_file(QUIRKS)

    assert spot("1000001").active is True
    assert summary.updated == 2  # 1000001 back on, 1000002's hours back


def test_command_prints_the_summary() -> None:
    out = StringIO()

    call_command("import_nyc_meters", str(QUIRKS), stdout=out)

    report = out.getvalue()
    assert "rows read    22" in report
    assert "created      11" in report
    assert "skipped      11" in report
    assert "     2  no usable coordinates" in report


def test_command_rejects_a_file_that_is_not_the_export(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(CommandError, match="missing columns"):
        call_command("import_nyc_meters", str(other))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_nyc_meters", str(tmp_path / "absent.csv"))


def test_bad_bytes_and_unreadable_lines_skip_rows_not_the_import(tmp_path: Path) -> None:
    lines = QUIRKS.read_bytes().splitlines(keepends=True)
    broken = tmp_path / "broken.csv"
    huge_field = b'9,9,Active,,"' + b"x" * 200_000 + b'"\n'  # over the csv module's field limit
    broken.write_bytes(
        lines[0] + lines[1].replace(b"West 45", b"West \xff45") + huge_field + lines[2]
    )
    out = StringIO()
    call_command("import_nyc_meters", str(broken), stdout=out)
    assert "created      2" in out.getvalue()
    assert "malformed CSV (field larger than field limit" in out.getvalue()
    assert spot("1000001").street == "West \ufffd45 Street"


def test_full_export(full_export: Path) -> None:
    with full_export.open(encoding="utf-8", newline="") as csv_file:
        rows = list(csv.DictReader(csv_file))
    active_on_street = {
        row["Meter Number"]
        for row in rows
        if row["Status"] == "Active" and row["Facility"] == "On Street"
    }

    summary = import_file(full_export)

    assert summary.rows == len(rows) == 15406
    assert summary.accounted == summary.rows
    assert summary.created == len(active_on_street)
    assert set(ParkingSpot.objects.values_list("meter_number", flat=True)) == active_on_street
    assert ParkingSpot.objects.filter(active=True, time_limit_minutes__isnull=False).count() > (
        0.99 * len(active_on_street)
    )
    again = import_file(full_export)
    assert (again.created, again.updated, again.unchanged) == (0, 0, len(active_on_street))
    assert again.accounted == again.rows
