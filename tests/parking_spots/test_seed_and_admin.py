from io import StringIO

import pytest
from django.core.management import call_command

from parking_spots.models import ParkingSpot
from testing.factories import ParkingSpotFactory

pytestmark = pytest.mark.django_db


def test_seed_creates_demo_spots_in_manhattan_once(api_client) -> None:
    out = StringIO()
    call_command("seed_demo_spots", "--count", "50", stdout=out)
    call_command("seed_demo_spots", stdout=out)

    assert "Created 50 demo parking spots" in out.getvalue()
    assert "no demo spots added" in out.getvalue()
    assert ParkingSpot.objects.count() == 50
    for lat, lng in ParkingSpot.objects.values_list("lat", "lng"):
        assert 40.69 < lat < 40.82
        assert -74.03 < lng < -73.93
    near = api_client.get(
        "/available-parking-spots-filter/",
        {"lat": "40.758", "long": "-73.9855", "unit": "km", "dist": "3"},
    )
    assert near.status_code == 200
    assert near.json()


def test_seed_leaves_an_existing_inventory_alone() -> None:
    ParkingSpotFactory()
    call_command("seed_demo_spots", stdout=StringIO())
    assert ParkingSpot.objects.count() == 1


@pytest.mark.parametrize(("action", "active"), [("activate", True), ("deactivate", False)])
def test_admin_bulk_actions(admin_client, action: str, active: bool) -> None:
    chosen = [ParkingSpotFactory(active=not active), ParkingSpotFactory(active=active)]
    other = ParkingSpotFactory(active=not active)

    response = admin_client.post(
        "/admin/parking_spots/parkingspot/",
        {"action": action, "_selected_action": [spot.pk for spot in chosen]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 parking spot(s)" in response.content.decode()
    assert all(
        spot.active is active for spot in ParkingSpot.objects.filter(pk__in=[s.pk for s in chosen])
    )
    other.refresh_from_db()
    assert other.active is not active


def test_admin_list_filters_and_search(admin_client) -> None:
    ParkingSpotFactory(meter_number="1433138", street="West 45 Street", borough="Manhattan")
    ParkingSpotFactory(meter_number="3243003", street="Vanderbilt Avenue", borough="Brooklyn")
    base = "/admin/parking_spots/parkingspot/"

    found = admin_client.get(base, {"q": "Vanderbilt"}).content.decode()
    by_meter = admin_client.get(base, {"q": "1433138"}).content.decode()
    brooklyn = admin_client.get(
        base, {"borough": "Brooklyn", "active__exact": "1"}
    ).content.decode()

    assert "3243003" in found and "1433138" not in found
    assert "1433138" in by_meter and "3243003" not in by_meter
    assert "3243003" in brooklyn and "1433138" not in brooklyn
