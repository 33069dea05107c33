from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from parking_spots.models import ParkingSpot
from reservations.models import Reservation, ReservationStatus

_meters = count(1)


def make_spot(**fields) -> ParkingSpot:
    values = {
        "lat": Decimal("40.712800"),
        "lng": Decimal("-74.006000"),
        "rate": Decimal("4.50"),
        "street": "Broadway",
        "meter_number": f"TEST-{next(_meters)}",
    }
    return ParkingSpot.objects.create(**{**values, **fields})


def make_reservation(
    *,
    spot: ParkingSpot,
    status: str = ReservationStatus.ACTIVE,
    start: datetime | None = None,
    minutes: int = 60,
    **fields,
) -> Reservation:
    """A reservation written straight to the table, for states the API takes time to reach."""
    start = start or timezone.now() - timedelta(minutes=5)
    values = {
        "email": "guest@example.com",
        "rate": spot.rate,
        "start_time": start,
        "end_time": start + timedelta(minutes=minutes),
        "status": status,
    }
    if status == ReservationStatus.PENDING_PAYMENT:
        values["hold_expires_at"] = start + timedelta(minutes=10)
    if status in (
        ReservationStatus.ENDED,
        ReservationStatus.PAID,
        ReservationStatus.PAYMENT_FAILED,
    ):
        values["ended_at"] = values["end_time"]
        values["amount_cents"] = 450
    return Reservation.objects.create(spot=spot, **{**values, **fields})


@pytest.fixture
def spot(db) -> ParkingSpot:
    return make_spot()
