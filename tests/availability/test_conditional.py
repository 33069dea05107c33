"""The spot routes' ETag changes exactly when their answer does, and a match costs no list."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from model_bakery import baker

from reservations.models import Reservation, ReservationStatus
from testing.factories import ParkingSpotFactory, ReservationFactory
from tests.availability.conftest import VIEWPORT, hold_running_out
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)
S = ReservationStatus
ALL = "/available-parking-spots/"
NEAR = "/available-parking-spots-filter/?lat=40.758&long=-73.9855&unit=km&dist=1"


def poll(client, path: str = ALL) -> tuple[str, set[int]]:
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response["ETag"], {spot["id"] for spot in response.json()}


def test_writes_that_change_no_answer_keep_the_etag(api_client, inside, outside):
    tag, listed = poll(api_client)
    near_tag, _ = poll(api_client, NEAR)
    assert listed == {inside.pk, outside.pk}

    baker.make(User)
    past = ReservationFactory(
        spot=inside, status=S.PAID, start_time=timezone.now() - timedelta(hours=3)
    )
    Reservation.objects.filter(pk=past.pk).update(card_brand="visa", card_last4="4242")
    # Booked from tomorrow: nothing on today's map moves.
    later = ReservationFactory(spot=inside, start_time=timezone.now() + timedelta(days=1))
    Reservation.objects.filter(pk=later.pk).update(reminder_sent_at=timezone.now())

    assert poll(api_client) == (tag, listed)
    assert poll(api_client, NEAR)[0] == near_tag


def test_booking_and_cancelling_change_the_etag(api_client, inside, outside):
    before, _ = poll(api_client)
    near_before, _ = poll(api_client, NEAR)
    body = {"reservation": {"email": "a@example.com", "reservation_length": 30}}
    booked = api_client.post(f"/reservation-unauth/{inside.pk}/", body, format="json")
    assert booked.status_code == 201, booked.content

    during, listed = poll(api_client)
    near_during, _ = poll(api_client, NEAR)
    assert during != before and listed == {outside.pk}
    assert near_during != near_before

    reservation_id = booked.json()["id"]
    cancelled = api_client.delete(f"/delete-reservation-unauth/{reservation_id}/a@example.com/")
    assert cancelled.status_code == 204
    after, listed = poll(api_client)
    assert after not in (before, during) and listed == {inside.pk, outside.pk}


def test_ending_changes_the_etag(api_client, inside):
    before, _ = poll(api_client)
    running = ReservationFactory(spot=inside, email="a@example.com", status=S.ACTIVE)
    during, listed = poll(api_client)
    assert during != before and listed == set()

    body = {"reservation": {"end_time": None}}
    ended = api_client.patch(
        f"/update-reservation-unauth/{running.public_id}/a@example.com/", body, format="json"
    )
    assert ended.status_code == 200, ended.content
    after, listed = poll(api_client)
    assert after != during and listed == {inside.pk}


def test_holds_that_start_or_run_out_by_time_change_the_etag_with_no_request_between(
    api_client, inside, outside
):
    hold_running_out(inside)
    ReservationFactory(
        spot=outside, status=S.ACTIVE, start_time=timezone.now() + timedelta(seconds=1)
    )
    held, listed = poll(api_client)
    assert listed == {outside.pk}

    time.sleep(1.2)

    after, listed = poll(api_client)
    assert after != held and listed == {inside.pk}
    assert poll(api_client)[0] == after  # one bump for the moment, not one per poll


def test_a_spot_deactivated_in_the_admin_changes_the_etag(admin_client, api_client, inside):
    before, _ = poll(api_client)
    response = admin_client.post(
        "/admin/parking_spots/parkingspot/",
        {"action": "deactivate", "_selected_action": [inside.pk]},
    )
    assert response.status_code == 302
    after, listed = poll(api_client)
    assert after != before and listed == set()


@pytest.mark.parametrize("path", [ALL, NEAR, f"{ALL}?bbox={VIEWPORT}"])
def test_a_current_copy_is_answered_304_from_one_query(
    api_client, django_assert_num_queries, inside, path
):
    first = api_client.get(path)
    assert first["Cache-Control"] == "public, no-cache"
    assert first["Last-Modified"]
    assert first["ETag"].startswith('"')  # strong

    # nginx's gzip weakens the tag the client then sends back
    for sent in (first["ETag"], f"W/{first['ETag']}", f'"other", {first["ETag"]}'):
        with django_assert_num_queries(1):
            again = api_client.get(path, HTTP_IF_NONE_MATCH=sent)
        assert again.status_code == 304
        assert again.content == b""
        assert again["ETag"] == first["ETag"]
        assert again["Cache-Control"] == "public, no-cache"

    stale = api_client.get(path, HTTP_IF_NONE_MATCH='"1"')
    assert stale.status_code == 200 and stale.json() == first.json()


def test_each_question_has_its_own_etag(api_client, inside):
    tags = {
        poll(api_client, path)[0]
        for path in (
            ALL,
            NEAR,
            NEAR.replace("dist=1", "dist=2"),
            f"{NEAR}&limit=1",
            f"{ALL}?bbox={VIEWPORT}",
            f"{ALL}?bbox=40,-75,41,-73",
        )
    }
    assert len(tags) == 6
    # the same question written differently is the same answer
    assert poll(api_client, NEAR)[0] == poll(api_client, NEAR.replace("long=", "lng=") + ".0")[0]
    assert (
        poll(api_client, f"{ALL}?bbox={VIEWPORT}")[0]
        == poll(api_client, f"{ALL}?bbox=40.750,-74,40.77,-73.970")[0]
    )


def test_bbox_keeps_the_viewport(api_client, inside, outside):
    ParkingSpotFactory(lat="40.770000", lng="-73.970000")  # on the corner: inside
    _, listed = poll(api_client, f"{ALL}?bbox={VIEWPORT}")
    assert inside.pk in listed and outside.pk not in listed and len(listed) == 2


@pytest.mark.parametrize(
    "bbox",
    [
        "",
        "40,-74,41",
        "40,-74,41,-73,1",
        "a,b,c,d",
        "nan,-74,41,-73",
        "40,-inf,41,-73",
        "-91,-74,41,-73",
        "40,-74,41,181",
        "41,-74,40,-73",  # south above north
        "40,-73,41,-74",  # west east of east
    ],
)
def test_a_bad_bbox_is_a_400_naming_it(api_client, bbox):
    response = api_client.get(ALL, {"bbox": bbox})
    assert response.status_code == 400
    assert list(response.json()) == ["bbox"]


def test_emptying_the_spots_table_changes_the_etag(api_client, inside):
    before, _ = poll(api_client)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE parking_spots_parkingspot CASCADE")
    after, listed = poll(api_client)
    assert after != before and listed == set()
