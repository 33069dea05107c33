"""The cached all-spots body is byte for byte what the spot serializer writes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.renderers import JSONRenderer

from availability.selectors import _latest_snapshot
from parking_spots.models import ParkingSpot
from parking_spots.selectors import parking_spot_list_available
from parking_spots.views import SpotOutputSerializer
from reservations.models import ReservationStatus
from tests.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def serializer_output() -> bytes:
    spots = parking_spot_list_available().order_by("id")
    return JSONRenderer().render(SpotOutputSerializer(spots, many=True).data)


def test_the_snapshot_is_the_serializers_output(api_client):
    ParkingSpotFactory(lat="0.000000", lng="180.000000", rate="0.00", meter_number=None)
    ParkingSpotFactory(lat="-89.999999", lng="-179.999999", rate="1234.50", street="Avenue Ñ")
    ParkingSpotFactory(time_limit_minutes=None, side_of_street="", borough="")
    whole_second = ParkingSpotFactory()
    ParkingSpot.objects.filter(pk=whole_second.pk).update(
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=dt.UTC),
    )
    ReservationFactory(status=ReservationStatus.ACTIVE)  # its spot is not listed
    ParkingSpotFactory(active=False)

    body = api_client.get("/available-parking-spots/").content

    assert body == serializer_output()
    assert len(api_client.get("/available-parking-spots/").json()) == 4


def test_built_once_per_version_and_shared_through_redis(api_client):
    spot = ParkingSpotFactory()
    first = api_client.get("/available-parking-spots/")
    version = first["ETag"].strip('"')
    assert cache.get(f"availability:snapshot:{version}") == first.content

    # Another worker (no copy in its memory) takes the version's body from Redis as it is.
    _latest_snapshot.clear()
    cache.set(f"availability:snapshot:{version}", b'["from redis"]')
    assert api_client.get("/available-parking-spots/").json() == ["from redis"]

    ParkingSpot.objects.filter(pk=spot.pk).update(rate=Decimal("9.99"))
    changed = api_client.get("/available-parking-spots/")
    assert changed["ETag"] != first["ETag"] and changed.json()[0]["rate"] == "9.99"
