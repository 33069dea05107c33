import pytest

from parking_spots.models import ParkingSpot
from testing.factories import ParkingSpotFactory


@pytest.fixture
def spot(db) -> ParkingSpot:
    """A spot without a meter time limit, so that only the configured maximum applies."""
    return ParkingSpotFactory(time_limit_minutes=None)
