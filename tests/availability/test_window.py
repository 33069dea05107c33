"""The spot routes for a window (issue 16, item 2), and a future reservation on the map of
now: hidden only in its own window, with the version (ETag, snapshot, push) moving at its
start."""

import time
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from availability.publisher import AvailabilityPublisher
from availability.throttles import SpotWindowRateThrottle
from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_activate
from testing.factories import ParkingSpotFactory, ReservationFactory
from tests.availability.conftest import VIEWPORT

pytestmark = pytest.mark.django_db(transaction=True)
S = ReservationStatus
ALL = "/available-parking-spots/"
NEAR = "/available-parking-spots-filter/"
AROUND = {"lat": "40.758", "long": "-73.9855", "unit": "km", "dist": "20"}


def iso(moment) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hours(n: float):
    return (timezone.now() + timedelta(hours=n)).replace(second=0, microsecond=0)


def listed(client, path: str, **query) -> set[int]:
    response = client.get(path, query)
    assert response.status_code == 200, response.content
    return {spot["id"] for spot in response.json()}


def every_route(client, **window) -> list[set[int]]:
    """The same question asked of the all-spots route, a viewport and a radius."""
    return [
        listed(client, ALL, **window),
        listed(client, ALL, bbox=VIEWPORT, **window),
        listed(client, NEAR, **AROUND, **window),
    ]


def booked_ahead(client, spot, start, minutes: int = 60) -> Reservation:
    """Booked through the route, then paid for (its card saved), as a driver would."""
    body = {"reservation": {"email": "a@example.com", "reservation_length": minutes}}
    body["reservation"]["start_time"] = iso(start)
    response = client.post(f"/reservation-unauth/{spot.pk}/", body, format="json")
    assert response.status_code == 201, response.content
    reservation = Reservation.objects.get(public_id=response.json()["id"])
    return reservation_activate(reservation_id=reservation.pk, card_last4="4242")


def test_a_future_reservation_hides_its_spot_in_its_window_only(api_client, inside, outside):
    reservation = booked_ahead(api_client, inside, hours(2))
    both = {inside.pk, outside.pk}

    now = every_route(api_client)
    within = every_route(
        api_client,
        start_time=iso(reservation.start_time + timedelta(minutes=30)),
        end_time=iso(reservation.end_time + timedelta(minutes=30)),
    )
    before = every_route(
        api_client,
        start_time=iso(reservation.start_time - timedelta(hours=1)),
        reservation_length=60,
    )
    long_from_now = every_route(api_client, reservation_length=180)

    assert now == [both, {inside.pk}, both]
    assert within == [{outside.pk}, set(), {outside.pk}]
    assert before == [both, {inside.pk}, both]  # back to back is free
    assert long_from_now == [{outside.pk}, set(), {outside.pk}]


def test_a_live_payment_hold_counts_for_its_window_and_a_stale_one_does_not(api_client, inside):
    start = hours(3)
    ReservationFactory(
        spot=inside,
        status=S.PENDING_PAYMENT,
        start_time=start,
        hold_expires_at=timezone.now() + timedelta(minutes=5),
    )
    stale = ParkingSpotFactory(lat=inside.lat, lng=inside.lng)
    ReservationFactory(
        spot=stale,
        status=S.PENDING_PAYMENT,
        start_time=start,
        hold_expires_at=timezone.now() - timedelta(minutes=1),
    )

    window = {"start_time": iso(start), "reservation_length": 30}

    assert listed(api_client, ALL) == {inside.pk, stale.pk}  # not held now
    assert listed(api_client, ALL, **window) == {stale.pk}


def test_the_near_window_answer_is_nearest_first_with_distance_and_limit(api_client):
    # From 40.758 north: 40.760 is nearest, then 40.750, then 40.770.
    spots = [ParkingSpotFactory(lat=lat, lng="-73.985500") for lat in ("40.76", "40.75", "40.77")]
    window = {"start_time": iso(hours(1)), "end_time": iso(hours(2)), "limit": 2}

    response = api_client.get(NEAR, {**AROUND, **window})

    assert response.status_code == 200
    body = response.json()
    assert [spot["id"] for spot in body] == [spots[0].pk, spots[1].pk]
    assert body[0]["distance"] < body[1]["distance"]


def test_window_answers_are_fresh_and_stored_nowhere(api_client, inside):
    response = api_client.get(ALL, {"reservation_length": 30})

    assert response.status_code == 200
    assert response["Cache-Control"] == "private, no-store"
    assert "ETag" not in response and "Last-Modified" not in response
    # A copy of the answer for now does not answer a window.
    now = api_client.get(ALL)
    again = api_client.get(ALL, {"reservation_length": 30}, HTTP_IF_NONE_MATCH=now["ETag"])
    assert again.status_code == 200


def test_an_offset_whose_plus_was_not_encoded_is_understood(api_client, inside):
    start = hours(2).astimezone(timezone.get_fixed_timezone(5 * 60))
    raw = start.isoformat()
    assert "+05:00" in raw

    response = api_client.get(f"{ALL}?start_time={raw}&reservation_length=30")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start_time": "soon", "reservation_length": 30}, "start_time"),
        ({"start_time": "2030-01-01T10:00:00", "reservation_length": 30}, "start_time"),
        ({"start_time": "past", "reservation_length": 30}, "start_time"),
        ({"start_time": "far", "reservation_length": 30}, "start_time"),
        ({"start_time": "later"}, "end_time"),
        ({"start_time": "later", "end_time": "later"}, "end_time"),  # end == start
        ({"start_time": "later", "end_time": "sooner"}, "end_time"),  # end before start
        ({"start_time": "later", "end_time": "day_later"}, "end_time"),  # too long
        ({"reservation_length": 24 * 60 + 1}, "reservation_length"),
        ({"reservation_length": 0}, "reservation_length"),
        ({"reservation_length": "x"}, "reservation_length"),
        ({"end_time": "later", "reservation_length": 30}, "reservation_length"),
        ({"end_time": "past"}, "end_time"),
    ],
)
@pytest.mark.parametrize("path", [ALL, NEAR])
def test_a_bad_window_is_a_400_naming_the_parameter(api_client, path, query, field):
    times = {
        "past": iso(timezone.now() - timedelta(minutes=5)),
        "far": iso(timezone.now() + timedelta(days=31)),
        "sooner": iso(hours(1)),
        "later": iso(hours(2)),
        "day_later": iso(hours(2 + 24) + timedelta(minutes=1)),
    }
    query = {name: times.get(value, value) for name, value in query.items()}
    if path == NEAR:
        query.update(AROUND)

    response = api_client.get(path, query)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_window_questions_have_a_throttle_of_their_own(api_client, inside, monkeypatch):
    monkeypatch.setattr(SpotWindowRateThrottle, "THROTTLE_RATES", {"spot_windows": "2/minute"})
    window = {"reservation_length": 30}

    codes = [api_client.get(ALL, window).status_code for _ in range(2)]
    refused = api_client.get(NEAR, {**AROUND, **window})

    assert codes == [200, 200]
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert api_client.get(ALL).status_code == 200  # the map of now is not held back


# --- the map of now learns that a future reservation started --------------------------------


def poll(client, path: str = ALL) -> tuple[str, set[int]]:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response["ETag"], {spot["id"] for spot in response.json()}


def start_in_a_second(reservation: Reservation) -> None:
    """Time moved on in the database: the reservation now starts a second from now."""
    start = timezone.now() + timedelta(seconds=1)
    Reservation.objects.filter(pk=reservation.pk).update(
        start_time=start, end_time=start + timedelta(hours=1)
    )


def test_booking_ahead_changes_no_etag_and_its_start_does(api_client, inside, outside):
    tag, spots = poll(api_client)
    near_tag, _ = poll(api_client, f"{NEAR}?lat=40.758&long=-73.9855&unit=km&dist=20")

    reservation = booked_ahead(api_client, inside, hours(2))

    assert poll(api_client) == (tag, spots)  # booked and paid for, but not for now
    assert poll(api_client, f"{NEAR}?lat=40.758&long=-73.9855&unit=km&dist=20")[0] == near_tag

    start_in_a_second(reservation)
    time.sleep(1.2)

    started, spots = poll(api_client)
    assert started != tag and spots == {outside.pk}  # the snapshot changed at the start
    near_started, near_spots = poll(api_client, f"{NEAR}?lat=40.758&long=-73.9855&unit=km&dist=20")
    assert near_started != near_tag and near_spots == {outside.pk}
    assert api_client.get(ALL, HTTP_IF_NONE_MATCH=tag).status_code == 200
    assert api_client.get(ALL, HTTP_IF_NONE_MATCH=started).status_code == 304


def test_a_future_start_is_pushed_when_it_comes(api_client, inside):
    publisher = AvailabilityPublisher()
    publisher.listen()
    try:
        reservation = booked_ahead(api_client, inside, hours(2))
        assert publisher.step(timeout=0.1) == []  # its booking flips nothing now

        start_in_a_second(reservation)
        assert publisher.step(timeout=0.1) == []  # nor does moving it, until it starts
        started = time.monotonic()
        flips = publisher.step(timeout=5)  # sleeps until the start

        assert [(flip["spot_id"], flip["available"]) for flip in flips] == [(inside.pk, False)]
        assert time.monotonic() - started < 2
    finally:
        with connection.cursor() as cursor:
            cursor.execute("UNLISTEN *")
            cursor.execute("SELECT pg_advisory_unlock_all()")
