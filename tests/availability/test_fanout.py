"""A push process's subscribers share one channel-layer channel (availability.fanout): on the
real Redis channel layer, through the ASGI application."""

import asyncio

import orjson
import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import ApplicationCommunicator, WebsocketCommunicator

from availability.subscriptions import cell_group
from parking_spots.models import ParkingSpot
from secure_my_spot.asgi import application
from testing.net import free_port, wait_until
from testing.processes import running
from tests.availability.conftest import VIEWPORT

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 5


def sse(query: str) -> ApplicationCommunicator:
    scope = {"type": "http", "method": "GET", "path": "/availability-events/"}
    scope |= {"query_string": query.encode(), "headers": []}
    return ApplicationCommunicator(application, scope)


async def subscribed(sockets: int) -> tuple[list[WebsocketCommunicator], ApplicationCommunicator]:
    """`sockets` WebSocket subscribers and one SSE stream of the viewport, each past its
    snapshot."""
    websockets = [
        WebsocketCommunicator(application, f"/ws/availability/?bbox={VIEWPORT}")
        for _ in range(sockets)
    ]
    for socket in websockets:
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from(TIMEOUT))["type"] == "snapshot"
    stream = sse(f"bbox={VIEWPORT}")
    await stream.send_input({"type": "http.request", "body": b""})
    assert (await stream.receive_output(TIMEOUT))["status"] == 200
    await stream.receive_output(TIMEOUT)  # the snapshot
    return websockets, stream


def members(group: str) -> list[bytes]:
    """The channels in `group`, as channels_redis keeps them in Redis."""
    layer = get_channel_layer()
    client = redis.Redis.from_url(layer.hosts[0]["address"])
    return client.zrange(layer._group_key(group), 0, -1)


def test_subscribers_of_a_process_share_one_group_member(publisher, inside, outside):
    inside_cell = cell_group(float(inside.lat), float(inside.lng))
    outside_cell = cell_group(float(outside.lat), float(outside.lng))
    assert inside_cell != outside_cell

    async def scenario():
        sockets, stream = await subscribed(2)
        # Three subscribers in the cell: one member, the process's channel.
        assert len(await sync_to_async(members)(inside_cell)) == 1

        await sync_to_async(ParkingSpot.objects.filter(pk=inside.pk).update)(active=False)
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        for socket in sockets:
            delta = await socket.receive_json_from(TIMEOUT)
            assert (delta["type"], delta["spot_id"], delta["available"]) == (
                "delta",
                inside.pk,
                False,
            )
        event = (await stream.receive_output(TIMEOUT))["body"]
        assert orjson.loads(event.split(b"data: ", 1)[1])["spot_id"] == inside.pk

        # One moves away: the cell keeps its member for the others; the new cell gets one.
        await sockets[0].send_json_to({"lat": 40.7, "lng": -74.01, "dist": 1, "unit": "km"})
        assert (await sockets[0].receive_json_from(TIMEOUT))["type"] == "snapshot"
        assert len(await sync_to_async(members)(inside_cell)) == 1
        assert len(await sync_to_async(members)(outside_cell)) == 1

        await sync_to_async(ParkingSpot.objects.filter(pk=inside.pk).update)(active=True)
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        assert (await sockets[1].receive_json_from(TIMEOUT))["spot_id"] == inside.pk
        assert await sockets[0].receive_nothing(0.2)  # the area it left

        # The last subscriber of a cell gone, the process leaves its group in Redis too.
        await sockets[0].disconnect()
        assert await sync_to_async(members)(outside_cell) == []
        await sockets[1].disconnect()
        assert len(await sync_to_async(members)(inside_cell)) == 1  # the SSE stream
        await stream.send_input({"type": "http.disconnect"})
        await stream.wait(TIMEOUT)
        assert await sync_to_async(members)(inside_cell) == []

    async_to_sync(scenario)()


def test_a_long_lived_process_renews_its_groups(publisher, inside, settings):
    """channels_redis drops a member after the layer's group_expiry: the fan-out joins again
    before then, so its subscribers still get deltas when their connection outlives it."""
    layer = settings.CHANNEL_LAYERS["default"]
    settings.CHANNEL_LAYERS = {
        "default": {**layer, "CONFIG": {**layer["CONFIG"], "group_expiry": 2}}
    }
    publisher.layer = get_channel_layer()

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/availability/?bbox={VIEWPORT}")
        assert (await socket.connect())[0]
        await socket.receive_json_from(TIMEOUT)
        await asyncio.sleep(3)  # past the expiry of the first join

        await sync_to_async(ParkingSpot.objects.filter(pk=inside.pk).update)(active=False)
        await sync_to_async(publisher.step)(timeout=TIMEOUT)
        assert (await socket.receive_json_from(TIMEOUT))["spot_id"] == inside.pk
        await socket.disconnect()

    async_to_sync(scenario)()


def answers(url: str) -> bool:
    try:
        return redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        return False


@pytest.fixture
def own_redis(settings, tmp_path):
    """A Redis server of the test's own, serving the channel layer: one it may stop."""
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    with running(argv, {}, tmp_path / "redis.log") as server:
        url = f"redis://127.0.0.1:{port}/0"
        wait_until(lambda: answers(url), 10, "redis-server up", server)
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {"hosts": [{"address": url, "socket_connect_timeout": 2}]},
            }
        }
        yield server


def test_a_lost_channel_layer_ends_every_subscriber_of_the_process(own_redis, inside, caplog):
    """They reconnect and get a new snapshot, instead of staying open and missing deltas."""

    async def scenario():
        (socket,), stream = await subscribed(1)

        await sync_to_async(own_redis.terminate)()
        assert await socket.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 1011}
        end = await stream.receive_output(TIMEOUT)
        assert (end["body"], end["more_body"]) == (b"", False)

    async_to_sync(scenario)()
    assert [record.name for record in caplog.records if record.levelname == "ERROR"] == [
        "availability.fanout"
    ]
