"""Push over the real Redis channel layer: subscribe, snapshot, then deltas as spots flip."""

import time
from datetime import timedelta

import orjson
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import ApplicationCommunicator, WebsocketCommunicator
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from parking_spots.models import ParkingSpot
from reservations.models import ReservationStatus
from secure_my_spot.asgi import application
from testing.factories import ReservationFactory
from tests.availability.conftest import VIEWPORT, hold_running_out

pytestmark = pytest.mark.django_db(transaction=True)
BOOKING = {"reservation": {"email": "a@example.com", "reservation_length": 30}}
TIMEOUT = 5


def delta(spot, available: bool) -> dict:
    """The delta a subscriber gets; a freed spot comes with its REST representation."""
    message = {
        "type": "delta",
        "spot_id": spot.pk,
        "available": available,
        "lat": str(spot.lat),
        "lng": str(spot.lng),
    }
    if available:
        listed = APIClient().get("/available-parking-spots-filter/", PUBLIC_NEAR(spot)).json()
        message["spot"] = next(
            {k: v for k, v in found.items() if k != "distance"}
            for found in listed
            if found["id"] == spot.pk
        )
    return message


def PUBLIC_NEAR(spot) -> dict:
    return {"lat": str(spot.lat), "lng": str(spot.lng), "unit": "km", "dist": "0.1"}


def book(client, spot) -> str:
    response = client.post(f"/reservation-unauth/{spot.pk}/", BOOKING, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_websocket_viewport_snapshot_then_deltas(api_client, publisher, inside, outside):
    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/availability/?bbox={VIEWPORT}")
        connected, _ = await socket.connect()
        assert connected
        snapshot = await socket.receive_json_from(TIMEOUT)
        assert snapshot["type"] == "snapshot" and isinstance(snapshot["version"], int)
        assert [spot["id"] for spot in snapshot["spots"]] == [inside.pk]
        assert snapshot["spots"][0]["lat"] == "40.758000"

        reservation_id = await sync_to_async(book)(api_client, inside)
        await sync_to_async(book)(api_client, outside)  # outside the viewport: not sent
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        assert await socket.receive_json_from(TIMEOUT) == delta(inside, False)
        assert await socket.receive_nothing(0.2)

        path = f"/delete-reservation-unauth/{reservation_id}/a@example.com/"
        assert (await sync_to_async(api_client.delete)(path)).status_code == 204
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        assert await socket.receive_json_from(TIMEOUT) == await sync_to_async(delta)(inside, True)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_websocket_moves_to_a_circle_and_reports_bad_areas(publisher, inside, outside):
    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/availability/")
        assert (await socket.connect())[0]
        assert await socket.receive_nothing(0.1)  # nothing until it subscribes

        await socket.send_to(text_data="not json")
        assert (await socket.receive_json_from(TIMEOUT))["type"] == "error"
        await socket.send_json_to({"bbox": "41,-74,40,-73"})
        assert await socket.receive_json_from(TIMEOUT) == {
            "type": "error",
            "errors": {"bbox": ["South must not exceed north, nor west exceed east."]},
        }
        await socket.send_json_to({"bbox": "-60,-100,60,100"})
        assert list((await socket.receive_json_from(TIMEOUT))["errors"]) == ["area"]

        await socket.send_json_to({"lat": 40.7, "lng": -74.01, "dist": 1, "unit": "km"})
        snapshot = await socket.receive_json_from(TIMEOUT)
        assert [spot["id"] for spot in snapshot["spots"]] == [outside.pk]
        assert snapshot["spots"][0]["distance"] == pytest.approx(0, abs=1e-9)

        await sync_to_async(ReservationFactory)(spot=inside, status=ReservationStatus.ACTIVE)
        await sync_to_async(ReservationFactory)(spot=outside, status=ReservationStatus.ACTIVE)
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        assert await socket.receive_json_from(TIMEOUT) == delta(outside, False)
        assert await socket.receive_nothing(0.2)  # the viewport it left
        await socket.disconnect()

    async_to_sync(scenario)()


def test_a_hold_running_out_is_pushed_with_no_request(publisher, inside):
    hold_running_out(inside)
    ReservationFactory(spot=inside, start_time=timezone.now() + timedelta(days=1))

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/availability/?bbox={VIEWPORT}")
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from(TIMEOUT))["spots"] == []
        # The hold's commit, once; tomorrow's booking flips nothing today.
        flips = await sync_to_async(publisher.step)(timeout=0.1)
        assert [(flip["spot_id"], flip["available"]) for flip in flips] == [(inside.pk, False)]
        assert await socket.receive_json_from(TIMEOUT) == delta(inside, False)

        started = time.monotonic()
        await sync_to_async(publisher.step)(timeout=TIMEOUT)  # sleeps until the hold ends
        assert await socket.receive_json_from(TIMEOUT) == await sync_to_async(delta)(inside, True)
        assert time.monotonic() - started < 2
        await socket.disconnect()

    async_to_sync(scenario)()


def sse(query: str) -> ApplicationCommunicator:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/availability-events/",
        "query_string": query.encode(),
        "headers": [],
    }
    return ApplicationCommunicator(application, scope)


def test_server_sent_events_snapshot_then_deltas(api_client, publisher, inside, outside):
    async def scenario():
        stream = sse(f"bbox={VIEWPORT}")
        await stream.send_input({"type": "http.request", "body": b""})
        start = await stream.receive_output(TIMEOUT)
        assert start["status"] == 200
        assert (b"Content-Type", b"text/event-stream") in start["headers"]
        first = (await stream.receive_output(TIMEOUT))["body"]
        assert first.startswith(b"event: snapshot\ndata: ") and first.endswith(b"\n\n")
        snapshot = orjson.loads(first.split(b"data: ", 1)[1])
        assert [spot["id"] for spot in snapshot["spots"]] == [inside.pk]

        await sync_to_async(book)(api_client, inside)
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        event = await stream.receive_output(TIMEOUT)
        assert event["more_body"] is True
        assert event["body"] == b"event: delta\ndata: " + orjson.dumps(delta(inside, False)) + (
            b"\n\n"
        )
        await stream.send_input({"type": "http.disconnect"})
        await stream.wait(TIMEOUT)

    async_to_sync(scenario)()


def test_server_sent_events_reject_a_bad_area(transactional_db):
    async def scenario():
        stream = sse("bbox=1,2,3")
        await stream.send_input({"type": "http.request", "body": b""})
        start = await stream.receive_output(TIMEOUT)
        body = await stream.receive_output(TIMEOUT)
        return start["status"], orjson.loads(body["body"])

    status, body = async_to_sync(scenario)()
    assert status == 400 and list(body) == ["bbox"]


def test_spot_edits_are_pushed_and_a_bulk_change_compares_every_spot(publisher, inside, outside):
    def unnoticed_reactivation():
        """A change the publisher was not told of ('*', a lost notification): the full
        comparison finds it."""
        ParkingSpot.objects.filter(pk=inside.pk).update(active=True)
        connection.connection.notifies.clear()
        publisher.publish(publisher.changes(None))

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/availability/?bbox={VIEWPORT}")
        assert (await socket.connect())[0]
        await socket.receive_json_from(TIMEOUT)

        await sync_to_async(ParkingSpot.objects.filter(pk=inside.pk).update)(active=False)
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        assert await socket.receive_json_from(TIMEOUT) == delta(inside, False)

        await sync_to_async(unnoticed_reactivation)()
        assert await socket.receive_json_from(TIMEOUT) == await sync_to_async(delta)(inside, True)
        await socket.disconnect()

    async_to_sync(scenario)()


def test_plain_http_through_the_asgi_application_reaches_django(transactional_db):
    async def scenario():
        scope = {"type": "http", "method": "GET", "path": "/healthz", "query_string": b""}
        scope["headers"] = [(b"host", b"testserver")]
        request = ApplicationCommunicator(application, scope)
        await request.send_input({"type": "http.request", "body": b""})
        return (await request.receive_output(TIMEOUT))["status"]

    assert async_to_sync(scenario)() == 200
