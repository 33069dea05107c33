import importlib
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

from parking_spots.models import RateZone
from parking_spots.services import ImportSummary, parking_spot_import_nyc_meters

SEED = importlib.import_module("parking_spots.migrations.0004_seed_zones_holidays_assign")
DATA = Path(__file__).parent / "data"
FULL_EXPORT = (
    Path(settings.BASE_DIR).parent / "shared" / "data" / "Parking_Meters_Locations_and_Status.csv"
)


def import_file(path: Path, *, batch_size: int = 1000) -> ImportSummary:
    with path.open(encoding="utf-8", newline="") as csv_file:
        return parking_spot_import_nyc_meters(csv_file=csv_file, batch_size=batch_size)


@pytest.fixture
def full_export() -> Path:
    if not FULL_EXPORT.exists():
        pytest.skip(f"the NYC export is not at {FULL_EXPORT} (it is never copied into the repo)")
    return FULL_EXPORT


@pytest.fixture
def rate_zones(db) -> dict[str, RateZone]:
    """The seeded zones by code. A transactional test's flush empties every table, seed
    data included, so they are seeded again here (the migration's own function: it never
    overwrites a zone that exists)."""
    SEED.seed_rate_zones(apps, None)
    return {zone.code: zone for zone in RateZone.objects.all()}
