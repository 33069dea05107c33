from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from availability.publisher import AvailabilityPublisher
from reservations.models import Reservation, ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory

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


def hold_running_out(spot, *, seconds: float = 1) -> Reservation:
    """A payment hold on `spot`, taken a minute ago, that runs out `seconds` from now."""
    now = timezone.now()
    return ReservationFactory(
        spot=spot,
        status=ReservationStatus.PENDING_PAYMENT,
        start_time=now - timedelta(minutes=1),
        hold_expires_at=now + timedelta(seconds=seconds),
    )


@pytest.fixture
def publisher(transactional_db):
    """The publisher on the test's own connection: LISTEN there, released after the test."""
    publisher = AvailabilityPublisher()
    publisher.listen()
    yield publisher
    with connection.cursor() as cursor:
        cursor.execute("UNLISTEN *")
        cursor.execute("SELECT pg_advisory_unlock_all()")
