from decimal import Decimal

import pytest

from tests.factories import ParkingSpotFactory

# Two Midtown blocks apart; the viewport below holds the first only.
INSIDE = {"lat": Decimal("40.758000"), "lng": Decimal("-73.985500")}
OUTSIDE = {"lat": Decimal("40.700000"), "lng": Decimal("-74.010000")}
VIEWPORT = "40.75,-74.0,40.77,-73.97"


@pytest.fixture
def inside(transactional_db):
    return ParkingSpotFactory(**INSIDE)


@pytest.fixture
def outside(transactional_db):
    return ParkingSpotFactory(**OUTSIDE)
