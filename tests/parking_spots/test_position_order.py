"""The spots table is kept in position order on disk (migration 0006): an import ends by
rewriting it so, and a radius search reads a few heap pages rather than one per spot."""

import pytest
from django.db import connection

from tests.parking_spots.conftest import DATA, import_file

pytestmark = pytest.mark.django_db(transaction=True)


def physical_order() -> list[tuple]:
    """(latitude band, longitude) of each spot, in the order of the table's pages."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT floor(lat * 100)::int, lng FROM parking_spots_parkingspot ORDER BY ctid"
        )
        return cursor.fetchall()


def test_an_import_leaves_the_table_in_position_order() -> None:
    with connection.cursor() as cursor:
        # Written north to south first, the reverse of the order the rewrite restores.
        cursor.execute(
            "INSERT INTO parking_spots_parkingspot (lat, lng, active, borough, street, "
            "side_of_street, from_street, to_street, meter_hours, created_at, updated_at, "
            "zone_pinned) SELECT 40.9 - n * 0.004, -73.9 + (n % 7) * 0.01, true, '', '', '', "
            "'', '', '', now(), now(), false FROM generate_series(1, 100) n"
        )
    before = physical_order()
    assert before != sorted(before)

    summary = import_file(DATA / "meters_quirks.csv")

    assert summary.created
    after = physical_order()
    assert after == sorted(after)
