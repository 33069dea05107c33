"""The two spot routes: shape, parameters, trailing slashes."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from availability.selectors import parking_spot_list_available
from availability.spot_json import SpotOutputSerializer, spots_json
from parking_spots.models import ParkingSpot
from testing.factories import ParkingSpotFactory

pytestmark = pytest.mark.django_db

FILTER = "/available-parking-spots-filter"
VALID = {"lat": "40.758", "long": "-73.9855", "unit": "km", "dist": "0.5"}


@pytest.mark.parametrize("path", ["/available-parking-spots", FILTER])
@pytest.mark.parametrize("slash", ["", "/"])
def test_routes_answer_with_and_without_trailing_slash(api_client, path, slash) -> None:
    ParkingSpotFactory()
    response = api_client.get(path + slash, VALID)
    assert response.status_code == 200
    assert len(response.json()) == 1


def test_list_shows_available_spots_in_the_contract_shape(api_client) -> None:
    spot = ParkingSpotFactory(lat=Decimal("40.7"), lng=Decimal("-74"))
    ParkingSpotFactory(active=False)

    body = api_client.get("/available-parking-spots/").json()

    assert len(body) == 1
    shown = body[0]
    assert {"id", "lat", "lng", "rate", "reserved", "active", "created_at", "updated_at"} <= set(
        shown
    )
    assert (shown["id"], shown["lat"], shown["lng"], shown["rate"]) == (
        spot.pk,
        "40.700000",
        "-74.000000",
        "1.50",  # the first-hour rate of "elsewhere", the zone of a spot not zoned
    )
    assert shown["reserved"] is False
    assert shown["active"] is True
    assert shown["created_at"].endswith("Z")


def test_fast_rows_equal_the_output_serializer() -> None:
    """The routes skip DRF's per-field serialization; this pins them to the serializer."""
    ParkingSpotFactory(meter_number=None, side_of_street="N", time_limit_minutes=None)
    ParkingSpotFactory(lat=Decimal("-0.000001"), street='"Quoted" \\ ü')
    whole_second = ParkingSpotFactory()
    ParkingSpot.objects.filter(pk=whole_second.pk).update(
        created_at=datetime(2026, 11, 29, 4, 5, 6, tzinfo=UTC)
    )
    spots = parking_spot_list_available().order_by("-id")

    assert json.loads(spots_json(spots)) == SpotOutputSerializer(spots, many=True).data
    assert json.loads(spots_json(spots.none())) == []


def test_filter_accepts_lng_for_long(api_client) -> None:
    ParkingSpotFactory()
    params = {**VALID, "lng": VALID["long"]}
    del params["long"]
    body = api_client.get(FILTER, params).json()
    assert len(body) == 1
    assert body[0]["distance"] == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lat": None}, "lat"),
        ({"long": None}, "long"),
        ({"unit": None}, "unit"),
        ({"dist": None}, "dist"),
        ({"lat": "abc"}, "lat"),
        ({"lat": ""}, "lat"),
        ({"lat": "nan"}, "lat"),
        ({"lat": "NaN"}, "lat"),
        ({"lat": "inf"}, "lat"),
        ({"lat": "-Infinity"}, "lat"),
        ({"lat": "1e400"}, "lat"),
        ({"lat": "90.0001"}, "lat"),
        ({"lat": "-91"}, "lat"),
        ({"lat": "4" * 2000}, "lat"),
        ({"long": "180.5"}, "long"),
        ({"long": "-181"}, "long"),
        ({"long": "nan"}, "long"),
        ({"long": None, "lng": "east"}, "lng"),
        ({"long": None, "lng": "200"}, "lng"),
        ({"unit": "furlong"}, "unit"),
        ({"unit": ""}, "unit"),
        ({"unit": "km" * 5000}, "unit"),
        ({"unit": "k\x00m"}, "unit"),
        ({"dist": "0"}, "dist"),
        ({"dist": "-1"}, "dist"),
        ({"dist": "50.001"}, "dist"),
        ({"dist": "31.1", "unit": "mi"}, "dist"),
        ({"dist": "nan"}, "dist"),
        ({"dist": "inf"}, "dist"),
        ({"dist": "far"}, "dist"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": "10001"}, "limit"),
    ],
)
def test_every_bad_parameter_is_a_400_naming_it(api_client, changes, field) -> None:
    params = {**VALID, **changes}
    params = {name: value for name, value in params.items() if value is not None}

    response = api_client.get(FILTER, params)

    assert response.status_code == 400
    body = response.json()
    assert list(body) == [field]
    assert all(isinstance(message, str) and message for message in body[field])


def test_largest_radius_is_accepted_in_either_unit(api_client) -> None:
    assert api_client.get(FILTER, {**VALID, "dist": "50"}).status_code == 200
    assert api_client.get(FILTER, {**VALID, "dist": "31.06", "unit": "mi"}).status_code == 200


def test_only_get_is_allowed(api_client) -> None:
    assert api_client.post(FILTER, {}, format="json").status_code == 405
    assert not ParkingSpot.objects.exists()
