"""The radius search against an independent great-circle formula, anywhere on the globe."""

import math
import random
from decimal import Decimal

import pytest
from django.db import connection

from availability.selectors import parking_spot_list_available_near
from parking_spots.geo import Unit
from parking_spots.models import ParkingSpot

pytestmark = pytest.mark.django_db

URL = "/available-parking-spots-filter/"
MEAN_EARTH_RADIUS_KM = 6371.0088
RADIUS = {"km": MEAN_EARTH_RADIUS_KM, "mil": MEAN_EARTH_RADIUS_KM / 1.609344}


def great_circle(lat1: float, lng1: float, lat2: float, lng2: float, radius: float) -> float:
    """Vincenty's formula on a sphere: a different route to the distance than haversine."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lng2 - lng1)
    y = math.hypot(
        math.cos(p2) * math.sin(dl),
        math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl),
    )
    x = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return radius * math.atan2(y, x)


def scatter(rng: random.Random, lat: float, lng: float, reach_km: float, count: int) -> None:
    """Spots in a window twice the circle's size (all longitudes over a pole), wrapped at 180."""
    reach = math.degrees(2 * reach_km / MEAN_EARTH_RADIUS_KM)
    over_pole = abs(lat) + reach >= 90
    spread = 180 if over_pole else min(180, reach / math.cos(math.radians(lat)))
    spots = []
    for _ in range(count):
        spot_lat = min(90, max(-90, lat + rng.uniform(-reach, reach)))
        spot_lng = (lng + rng.uniform(-spread, spread) + 180) % 360 - 180
        spots.append(
            ParkingSpot(
                lat=Decimal(f"{spot_lat:.6f}"),
                lng=Decimal(f"{(spot_lng if spot_lng > -180 else 180):.6f}"),
                rate=Decimal("1.00"),
            )
        )
    ParkingSpot.objects.bulk_create(spots)


@pytest.mark.parametrize(
    ("lat", "lng", "dist", "unit"),
    [
        (40.758, -73.9855, 0.5, "km"),  # Times Square
        (40.758, -73.9855, 0.4, "mil"),
        (10.0, 179.997, 3.0, "km"),  # the antimeridian, from the east
        (-20.0, -179.999, 2.0, "mil"),  # and from the west
        (89.99, 0.0, 5.0, "km"),  # the circle covers the North Pole
        (-89.97, 120.0, 4.0, "km"),  # and the South Pole
        (89.5, -60.0, 5.0, "km"),  # near, not over, a pole: wide longitude spread
        (0.0, 0.0, 50.0, "km"),  # the largest radius allowed
    ],
)
def test_results_match_independent_great_circle(api_client, lat, lng, dist, unit) -> None:
    rng = random.Random(f"{lat},{lng}")
    scatter(rng, lat, lng, dist * (1.609344 if unit == "mil" else 1), count=400)
    distances = {
        spot.pk: great_circle(lat, lng, float(spot.lat), float(spot.lng), RADIUS[unit])
        for spot in ParkingSpot.objects.all()
    }
    inside = {pk for pk, d in distances.items() if d <= dist * (1 - 1e-9)}
    maybe = {pk for pk, d in distances.items() if d <= dist * (1 + 1e-9)}
    assert 10 < len(inside) < len(distances)  # the scatter tests both sides of the edge

    response = api_client.get(URL, {"lat": lat, "long": lng, "unit": unit, "dist": dist})

    assert response.status_code == 200, response.content
    found = response.json()
    ids = {spot["id"] for spot in found}
    assert inside <= ids <= maybe
    assert len(ids) == len(found)
    for spot in found:
        assert spot["distance"] == pytest.approx(distances[spot["id"]], rel=1e-9, abs=1e-9)
    reported = [spot["distance"] for spot in found]
    assert reported == sorted(reported)


def test_units_convert(api_client) -> None:
    one_km_north = 40.758 + math.degrees(1 / MEAN_EARTH_RADIUS_KM)
    ParkingSpot.objects.create(
        lat=Decimal(f"{one_km_north:.6f}"), lng=Decimal("-73.9855"), rate=Decimal("4.50")
    )
    query = {"lat": "40.758", "lng": "-73.9855"}

    km = api_client.get(URL, {**query, "unit": "km", "dist": "1.001"}).json()
    assert km[0]["distance"] == pytest.approx(1.0, abs=1e-4)
    for unit in ("mil", "mi", "mile", "miles", "MI"):
        miles = api_client.get(URL, {**query, "unit": unit, "dist": "0.6214"}).json()
        assert miles[0]["distance"] == pytest.approx(1 / 1.609344, abs=1e-4)
    assert api_client.get(URL, {**query, "unit": "mi", "dist": "0.62"}).json() == []
    assert api_client.get(URL, {**query, "unit": "km", "dist": "0.999"}).json() == []


def test_limit_keeps_the_nearest(api_client) -> None:
    for step in (5, 1, 4, 2, 3):
        ParkingSpot.objects.create(
            lat=Decimal("40.758000") + Decimal(step) / 10000,
            lng=Decimal("-73.985500"),
            rate=Decimal("4.50"),
            street=f"step {step}",
        )
    query = {"lat": "40.758", "long": "-73.9855", "unit": "km", "dist": "1"}

    nearest = api_client.get(URL, {**query, "limit": 2}).json()
    everything = api_client.get(URL, query).json()

    assert [spot["street"] for spot in nearest] == ["step 1", "step 2"]
    assert [spot["street"] for spot in everything] == [f"step {n}" for n in range(1, 6)]


def test_inactive_spots_are_not_found(api_client) -> None:
    ParkingSpot.objects.create(lat=Decimal("40.758"), lng=Decimal("-73.9855"), rate=1, active=False)
    query = {"lat": "40.758", "long": "-73.9855", "unit": "km", "dist": "1"}
    assert api_client.get(URL, query).json() == []


def test_the_query_uses_the_gist_index() -> None:
    rng = random.Random(7)
    scatter(rng, 40.7, -73.95, 20, count=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE parking_spots_parkingspot")
    spots = parking_spot_list_available_near(lat=40.758, lng=-73.9855, dist=0.5, unit=Unit.KM)
    plan = spots.explain()
    assert "parking_spot_active_point" in plan
    assert "Seq Scan" not in plan
