"""The cached all-spots body is byte for byte what the spot serializer writes."""

import datetime as dt
import json
import random
from decimal import Decimal

import orjson
import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from availability.selectors import (
    _latest_bodies,
    parking_spot_list_available,
    parking_spot_list_available_in,
    parking_spot_list_available_near,
)
from availability.spot_json import SNAPSHOT_ORDER, SpotOutputSerializer, spots_json
from parking_spots.geo import UNIT_ALIASES, BBox
from parking_spots.models import ParkingSpot, RateZone
from reservations.models import ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def serializer_output() -> bytes:
    spots = parking_spot_list_available().order_by(*SNAPSHOT_ORDER)
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


def test_the_snapshot_goes_by_position_south_to_north_then_west_to_east(api_client):
    """Bands of 0.01 degree of latitude, west to east in each, id on a tie: what the map
    gets, whatever order the spots were made in."""
    made = [
        ParkingSpotFactory(lat=lat, lng=lng)
        for lat, lng in [
            ("40.759000", "-73.980000"),  # band 4075, east
            ("40.751000", "-73.990000"),  # band 4075, west
            ("40.749999", "-73.970000"),  # band 4074: first, though the most eastern
            ("40.758000", "-73.980000"),  # band 4075, a tie with the first on lng
        ]
    ]

    ids = [spot["id"] for spot in api_client.get("/available-parking-spots/").json()]

    assert ids == [made[2].pk, made[1].pk, made[0].pk, made[3].pk]


def test_the_stored_objects_follow_every_write(api_client):
    """Each spot's object is written by the database (parking_spots migration 0007): after
    a zone's rate changes (0005's trigger), an ORM update and SQL by hand, still the
    serializer's output."""
    elsewhere, _ = RateZone.objects.get_or_create(
        code="elsewhere",
        defaults={"name": "Elsewhere", "first_hour_cents": 150, "later_hour_cents": 250},
    )
    zoned = ParkingSpotFactory(zone=elsewhere)
    spot = ParkingSpotFactory()
    RateZone.objects.filter(code="elsewhere").update(first_hour_cents=275)
    ParkingSpot.objects.filter(pk=spot.pk).update(street='Broadway "& 7th"', meter_number=None)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE parking_spots_parkingspot SET time_limit_minutes = NULL, lat = 40.1 "
            "WHERE id = %s",
            [zoned.pk],
        )

    body = api_client.get("/available-parking-spots/").content

    assert body == serializer_output()
    assert [spot["rate"] for spot in json.loads(body)] == ["2.75", "2.75"]


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
VIEWPORT = "/available-parking-spots/?bbox=40.7501,-73.9902,40.7649,-73.9751"
AROUND = "/available-parking-spots/?bbox={south},-74.01,{north},-73.96"


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
    first = api_client.get(VIEWPORT)
    (key,) = cover_keys()
    assert json.loads(cache.get(key.decode().split(":", 2)[2]))[0]["lat"] == "40.758000"

    # Another worker (no copy in its memory) trims the version's cover from Redis.
    _latest_bodies.clear()
    cache.set(key.decode().split(":", 2)[2], b"[]")
    assert api_client.get(VIEWPORT).json() == []
    assert first.json()[0]["lng"] == "-73.985500"


def todays_near_answer(*, lat: float, lng: float, dist: str, unit: str, limit: int | None) -> bytes:
    """What the radius route has always answered: the selector's spots, nearest first,
    with their distances, in orjson's compact form."""
    exact = parking_spot_list_available_near(
        lat=lat, lng=lng, dist=float(dist), unit=UNIT_ALIASES[unit], limit=limit
    )
    spots = json.loads(spots_json(exact, with_distance=True))  # a distance 0 reads as int 0
    return orjson.dumps([{**spot, "distance": float(spot["distance"])} for spot in spots])


@pytest.mark.parametrize(
    ("centres", "dist", "unit"),
    [
        ([(40.7580, -73.9852), (40.75835, -73.98510), (40.75795, -73.98530)], "1", "km"),
        ([(40.7580, -73.9851), (40.75805, -73.98514)], "0.4", "mil"),
    ],
)
def test_radius_searches_are_answered_straight_and_store_nothing_in_redis(
    api_client, centres, dist, unit
):
    scatter_midtown()
    for lat, lng in centres:
        answer = api_client.get(NEAR.format(lat=lat, lng=lng, unit=unit, dist=dist))
        expected = todays_near_answer(lat=lat, lng=lng, dist=dist, unit=unit, limit=None)
        assert answer.content == expected  # byte for byte, distances to the bit
        assert 20 < len(answer.json()) < 300
        limited = api_client.get(NEAR.format(lat=lat, lng=lng, unit=unit, dist=dist) + "&limit=7")
        assert limited.content == todays_near_answer(
            lat=lat, lng=lng, dist=dist, unit=unit, limit=7
        )
        assert limited.json() == answer.json()[:7]
    assert cover_keys() == []


@pytest.mark.parametrize(
    "lat",
    [
        40.758,  # on the spot: distance 0.0
        40.7580001,  # ~1.1e-5 km: written 0.0000111...
        40.75800001,  # ~1.1e-6 km: written 1.1...e-6
        40.758000001,
        40.7581,
    ],
)
@pytest.mark.parametrize("unit", ["km", "mil"])
def test_radius_answers_write_every_value_as_before(api_client, lat, unit):
    ParkingSpotFactory(lat="40.758000", lng="-73.985500", meter_number=None, rate="0.00")
    ParkingSpotFactory(
        lat="40.758100",
        lng="-73.985600",
        street='Quote " back\\slash\nnew line \x01 \u2028 Ñ / end',
        borough="",
        side_of_street="",
        time_limit_minutes=None,
        rate="1234.50",
    )
    whole_second = ParkingSpotFactory(lat="40.757900", lng="-73.985400")
    ParkingSpot.objects.filter(pk=whole_second.pk).update(
        created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=dt.UTC),
    )

    answer = api_client.get(NEAR.format(lat=lat, lng=-73.9855, unit=unit, dist=1))

    assert answer.content == todays_near_answer(
        lat=lat, lng=-73.9855, dist="1", unit=unit, limit=None
    )
    assert len(answer.json()) == 3


def test_radius_answers_leave_out_what_the_selector_does(api_client):
    """The prepared statement repeats the selectors' "available": every state a
    reservation can be in now, and inactive spots."""
    scatter_midtown(40)
    spots = list(ParkingSpot.objects.order_by("id"))
    now = timezone.now()
    for spot, fields in zip(
        spots,
        [
            {"status": ReservationStatus.ACTIVE},
            {"status": ReservationStatus.PENDING_PAYMENT},
            {
                "status": ReservationStatus.PENDING_PAYMENT,
                "hold_expires_at": now - dt.timedelta(minutes=1),
            },
            {"status": ReservationStatus.ACTIVE, "start_time": now + dt.timedelta(hours=1)},
            {"status": ReservationStatus.ACTIVE, "start_time": now - dt.timedelta(hours=2)},
            {"status": ReservationStatus.CANCELLED},
            {"status": ReservationStatus.ENDED},
        ],
        strict=False,
    ):
        ReservationFactory(spot=spot, **fields)
    ParkingSpot.objects.filter(pk__in=[spot.pk for spot in spots[-5:]]).update(active=False)

    answer = api_client.get(NEAR.format(lat=40.758, lng=-73.9855, unit="km", dist=5))

    assert answer.content == todays_near_answer(
        lat=40.758, lng=-73.9855, dist="5", unit="km", limit=None
    )
    assert len(answer.json()) == 40 - 5 - 2  # inactive; held by the running and the live hold


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
    first = api_client.get(AROUND.format(south=40.73, north=40.79))
    size = len(cache.get(cover_keys()[0].decode().split(":", 2)[2]))
    settings.AVAILABILITY_SEARCH_CACHE_BYTES = 3 * size

    answers = [
        api_client.get(AROUND.format(south=40.73 - cell / 1000, north=40.79)) for cell in range(6)
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
