"""The cached all-spots body is byte for byte what the spot serializer writes."""

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.core.cache import cache
from rest_framework.renderers import JSONRenderer

from availability.selectors import _latest_bodies
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
    assert cache.get(f"availability:body:{version}") == first.content

    # Another worker (no copy in its memory) takes the version's body from Redis as it is.
    _latest_bodies.clear()
    cache.set(f"availability:body:{version}", b'["from redis"]')
    assert api_client.get("/available-parking-spots/").json() == ["from redis"]

    ParkingSpot.objects.filter(pk=spot.pk).update(rate=Decimal("9.99"))
    changed = api_client.get("/available-parking-spots/")
    assert changed["ETag"] != first["ETag"] and changed.json()[0]["rate"] == "9.99"


FILTER = "/available-parking-spots-filter/?lat=40.758&long=-73.9855&unit=km&dist=5"


def test_search_answers_are_shared_per_version_too(api_client):
    ParkingSpotFactory(lat="40.758000", lng="-73.985500")
    first = api_client.get(FILTER)
    tag = first["ETag"].strip('"')
    assert cache.get(f"availability:body:{tag}") == first.content

    _latest_bodies.clear()
    cache.set(f"availability:body:{tag}", b'["from redis"]')
    assert api_client.get(FILTER).json() == ["from redis"]


def test_redis_down_costs_speed_not_answers(api_client, settings):
    ParkingSpotFactory(lat="40.758000", lng="-73.985500")
    _latest_bodies.clear()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    assert api_client.get("/available-parking-spots/").json() == json.loads(serializer_output())
    assert len(api_client.get(FILTER).json()) == 1
