"""Availability is derived from reservations at query time, in the spots' one query."""

from datetime import timedelta

import pytest
from django.utils import timezone

from availability.selectors import parking_spot_list_available
from reservations.models import ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db
S = ReservationStatus


def listed(client, path="/available-parking-spots/"):
    response = client.get(path)
    assert response.status_code == 200
    return {spot["id"] for spot in response.json()}


def test_booked_spot_disappears_and_comes_back_when_cancelled(api_client, spot):
    free = ParkingSpotFactory()
    assert listed(api_client) == {spot.pk, free.pk}

    body = {"reservation": {"email": "a@example.com", "reservation_length": 30}}
    reservation = api_client.post(f"/reservation-unauth/{spot.pk}/", body, format="json").json()
    assert listed(api_client) == {free.pk}
    near = "/available-parking-spots-filter/?lat=40.758&long=-73.9855&unit=km&dist=1"
    assert listed(api_client, near) == {free.pk}

    api_client.delete(f"/delete-reservation-unauth/{reservation['id']}/a@example.com/")
    assert listed(api_client) == {spot.pk, free.pk}


def test_without_any_worker(api_client):
    now = timezone.now()
    stale_hold = ParkingSpotFactory()
    ReservationFactory(
        spot=stale_hold,
        status=S.PENDING_PAYMENT,
        start_time=now - timedelta(minutes=15),
        minutes=60,
    )
    run_out = ParkingSpotFactory()
    ReservationFactory(
        spot=run_out, status=S.ACTIVE, start_time=now - timedelta(minutes=61), minutes=60
    )
    running = ParkingSpotFactory()
    ReservationFactory(spot=running, status=S.ACTIVE)
    later = ParkingSpotFactory()
    ReservationFactory(spot=later, status=S.ACTIVE, start_time=now + timedelta(minutes=30))

    assert listed(api_client) == {stale_hold.pk, run_out.pk, later.pk}


def test_available_is_one_query(django_assert_num_queries, spot):
    ReservationFactory(spot=spot, status=S.ACTIVE)
    ParkingSpotFactory()

    with django_assert_num_queries(1):
        assert len(list(parking_spot_list_available())) == 1
