from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from parking_spots.nyc_meters import DEFAULT_RATES
from parking_spots.services import ImportSummary, parking_spot_import_nyc_meters

DATA = Path(__file__).parent / "data"
FULL_EXPORT = (
    Path(settings.BASE_DIR).parent / "shared" / "data" / "Parking_Meters_Locations_and_Status.csv"
)


def import_file(
    path: Path, *, rates: dict[str, Decimal] = DEFAULT_RATES, batch_size: int = 1000
) -> ImportSummary:
    with path.open(encoding="utf-8", newline="") as csv_file:
        return parking_spot_import_nyc_meters(csv_file=csv_file, rates=rates, batch_size=batch_size)


@pytest.fixture
def full_export() -> Path:
    if not FULL_EXPORT.exists():
        pytest.skip(f"the NYC export is not at {FULL_EXPORT} (it is never copied into the repo)")
    return FULL_EXPORT
