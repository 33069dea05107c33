"""The cached all-spots body is byte for byte what the spot serializer writes."""

import datetime as dt
import json
import random
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.renderers import JSONRenderer

from availability.selectors import (
    _latest_bodies,
    parking_spot_list_available,
    parking_spot_list_available_in,
    parking_spot_list_available_near,
)
from availability.spot_json import SpotOutputSerializer, spots_json
from parking_spots.geo import UNIT_ALIASES, BBox
from parking_spots.models import ParkingSpot
from reservations.models import ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


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
    tag = first["ETag"].strip('"')
    key = cache.make_key(f"availability:snapshot:{tag}")
    assert raw_redis().get(key) == first.content

    # Another worker (no copy in its memory) takes the version's body from Redis as it is.
    _latest_bodies.clear()
    raw_redis().set(key, b'["from redis"]')
    assert api_client.get("/available-parking-spots/").json() == ["from redis"]

    ParkingSpot.objects.filter(pk=spot.pk).update(rate=Decimal("9.99"))
    changed = api_client.get("/available-parking-spots/")
    assert changed["ETag"] != first["ETag"] and changed.json()[0]["rate"] == "9.99"


FILTER = "/available-parking-spots-filter/?lat=40.758&long=-73.9855&unit=km&dist=5"
NEAR = "/available-parking-spots-filter/?lat={lat}&long={lng}&unit={unit}&dist={dist}"


def cover_keys() -> list[bytes]:
    return redis.Redis.from_url(settings.REDIS_URL).keys("*availability:cover:*")


def scatter_midtown(count: int = 300) -> None:
    rng = random.Random(12)
    ParkingSpot.objects.bulk_create(
        ParkingSpot(
            lat=Decimal(f"{40.758 + rng.uniform(-0.02, 0.02):.6f}"),
            lng=Decimal(f"{-73.9855 + rng.uniform(-0.02, 0.02):.6f}"),
            rate=Decimal("4.50"),
        )
        for _ in range(count)
    )


def test_search_covers_are_shared_per_version_too(api_client):
    ParkingSpotFactory(lat="40.758000", lng="-73.985500")
    first = api_client.get(FILTER)
    (key,) = cover_keys()
    assert json.loads(cache.get(key.decode().split(":", 2)[2]))[0]["lat"] == "40.758000"

    # Another worker (no copy in its memory) trims the version's cover from Redis.
    _latest_bodies.clear()
    cache.set(key.decode().split(":", 2)[2], b"[]")
    assert api_client.get(FILTER).json() == []
    assert first.json()[0]["distance"] == 0


@pytest.mark.parametrize(
    ("centres", "dist", "unit"),
    [
        ([(40.7580, -73.9852), (40.75835, -73.98510), (40.75795, -73.98530)], "1", "km"),
        ([(40.7580, -73.9851), (40.75805, -73.98514)], "0.4", "mil"),
    ],
)
def test_nearby_centres_share_one_cover_and_each_gets_its_exact_answer(
    api_client, centres, dist, unit
):
    scatter_midtown()
    for lat, lng in centres:
        answer = api_client.get(NEAR.format(lat=lat, lng=lng, unit=unit, dist=dist)).json()
        exact = parking_spot_list_available_near(
            lat=lat, lng=lng, dist=float(dist), unit=UNIT_ALIASES[unit]
        )
        assert answer == json.loads(spots_json(exact, with_distance=True))  # distances to the bit
        assert 20 < len(answer) < 300
        limited = api_client.get(NEAR.format(lat=lat, lng=lng, unit=unit, dist=dist) + "&limit=7")
        assert limited.json() == answer[:7]
    assert len(cover_keys()) == 1


def test_nearby_viewports_share_one_cover_and_each_gets_its_exact_answer(api_client):
    scatter_midtown()
    for bbox in (
        BBox(south=40.7501, west=-73.9902, north=40.7649, east=-73.9751),
        BBox(south=40.7502, west=-73.99001, north=40.76488, east=-73.9752),
    ):
        answer = api_client.get(
            f"/available-parking-spots/?bbox={bbox.south},{bbox.west}," f"{bbox.north},{bbox.east}"
        ).json()
        exact = json.loads(spots_json(parking_spot_list_available_in(bbox=bbox)))
        assert answer == exact and 20 < len(answer) < 300
    assert len(cover_keys()) == 1


def test_search_covers_stop_being_stored_past_the_byte_budget(api_client, settings):
    scatter_midtown(50)
    first = api_client.get(NEAR.format(lat=40.758, lng=-73.9855, unit="km", dist=5))
    size = len(cache.get(cover_keys()[0].decode().split(":", 2)[2]))
    settings.AVAILABILITY_SEARCH_CACHE_BYTES = 3 * size

    answers = [
        api_client.get(NEAR.format(lat=40.758 + cell / 100, lng=-73.9855, unit="km", dist=5))
        for cell in range(6)
    ]

    assert len(cover_keys()) == 3  # the first and two more fit; the rest are served uncached
    assert answers[0].json() == first.json()
    assert all(answer.status_code == 200 and answer.json() for answer in answers)


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
