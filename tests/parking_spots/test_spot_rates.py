"""A spot's shown `rate` is its zone's first-hour rate, kept so by PostgreSQL (migration 0005)."""

from decimal import Decimal

import pytest
from django.test import Client

from availability.models import AvailabilityState
from parking_spots.models import ParkingSpot, RateZone
from parking_spots.services import parking_spot_assign_zones, parking_spot_pin_zone
from testing.factories import ParkingSpotFactory, UserFactory
from tests.parking_spots.test_zones import (
    FULTON_MALL,
    SPOTS_ADMIN,
    TIMES_SQUARE,
    ZONES_ADMIN,
    _zone_form,
)

pytestmark = pytest.mark.django_db


def rate_of(spot: ParkingSpot) -> Decimal:
    return ParkingSpot.objects.values_list("rate", flat=True).get(pk=spot.pk)


def test_a_new_spot_takes_its_zones_rate_whatever_it_was_given(rate_zones) -> None:
    unzoned = ParkingSpotFactory(rate=Decimal("9.99"))
    core = ParkingSpotFactory(rate=Decimal("0.01"), zone=rate_zones["midtown-core"])

    assert (rate_of(unzoned), rate_of(core)) == (Decimal("1.50"), Decimal("5.50"))


def test_a_hand_written_rate_does_not_stick(rate_zones) -> None:
    spot = ParkingSpotFactory(zone=rate_zones["retail"])

    ParkingSpot.objects.filter(pk=spot.pk).update(rate=Decimal("0.50"))
    spot.refresh_from_db()
    spot.save()

    assert rate_of(spot) == Decimal("2.00")


def test_zoning_and_pinning_move_the_rate(rate_zones) -> None:
    lat, lng = FULTON_MALL
    spot = ParkingSpotFactory(lat=lat, lng=lng)

    assert parking_spot_assign_zones() == 1
    zoned = rate_of(spot)
    parking_spot_pin_zone(
        spots=ParkingSpot.objects.filter(pk=spot.pk), zone=rate_zones["midtown-core"]
    )

    assert (zoned, rate_of(spot)) == (Decimal("2.50"), Decimal("5.50"))


def test_an_operators_new_rate_reaches_that_zones_spots_and_the_maps(rate_zones) -> None:
    lat, lng = TIMES_SQUARE
    core = ParkingSpotFactory(lat=lat, lng=lng, zone=rate_zones["midtown-core"])
    other = ParkingSpotFactory(zone=rate_zones["retail"])
    unzoned = ParkingSpotFactory()
    before = {spot.pk: spot.updated_at for spot in ParkingSpot.objects.all()}
    version = AvailabilityState.objects.get().version
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    zone = rate_zones["midtown-core"]

    changed = staff.post(f"{ZONES_ADMIN}{zone.pk}/change/", _zone_form(zone, first_hour_cents=625))

    assert changed.status_code == 302
    assert [rate_of(core), rate_of(other), rate_of(unzoned)] == [
        Decimal("6.25"),
        Decimal("2.00"),
        Decimal("1.50"),
    ]
    after = {spot.pk: spot.updated_at for spot in ParkingSpot.objects.all()}
    assert after[core.pk] > before[core.pk]
    assert after[other.pk] == before[other.pk] and after[unzoned.pk] == before[unzoned.pk]
    assert AvailabilityState.objects.get().version > version
    shown = staff.get("/available-parking-spots/").json()
    assert {spot["id"]: spot["rate"] for spot in shown}[core.pk] == "6.25"


def test_elsewheres_rate_reaches_the_spots_not_zoned(rate_zones) -> None:
    unzoned = ParkingSpotFactory()
    zoned = ParkingSpotFactory(zone=rate_zones["elsewhere"])
    retail = ParkingSpotFactory(zone=rate_zones["retail"])

    RateZone.objects.filter(code="elsewhere").update(first_hour_cents=175)

    assert [rate_of(unzoned), rate_of(zoned), rate_of(retail)] == [
        Decimal("1.75"),
        Decimal("1.75"),
        Decimal("2.00"),
    ]


def test_the_spot_admin_shows_the_rate_but_never_edits_it(rate_zones, admin_client) -> None:
    spot = ParkingSpotFactory(zone=rate_zones["retail"])

    page = admin_client.get(f"{SPOTS_ADMIN}{spot.pk}/change/")

    assert page.status_code == 200
    assert "rate" not in page.context["adminform"].form.fields


def test_a_reservations_rate_is_the_rate_its_spot_showed(rate_zones, api_client) -> None:
    spot = ParkingSpotFactory(zone=rate_zones["manhattan-below-96"])
    listed = api_client.get("/available-parking-spots/")
    user = UserFactory()
    api_client.force_authenticate(user)

    booked = api_client.post(
        f"/reservation-auth/{spot.pk}/", {"reservation": {"reservation_length": 30}}, format="json"
    )

    assert listed.status_code == 200 and booked.status_code == 201
    shown = {listed_spot["id"]: listed_spot["rate"] for listed_spot in listed.json()}[spot.pk]
    assert booked.json()["rate"] == shown == "5.00"
