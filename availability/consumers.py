"""Push: a snapshot of an area's available spots, then a delta each time one flips.

The same subscription over a WebSocket (`/ws/availability/`) or Server-Sent Events
(`/availability-events/`). Messages carry spots only: a delta is `spot_id`, `available`,
`lat`, `lng`, and, for a spot that came free, `spot` (its public fields, as the REST routes
write them). Never who reserved, nor for how long.
"""

import asyncio
from collections.abc import Mapping

import orjson
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import TooManyFieldsSent
from django.http import QueryDict
from rest_framework import serializers

from availability.fanout import DELTAS, LOST, Fanout, fanout_get
from availability.selectors import availability_version_get
from availability.subscriptions import Subscription, subscription_parse
from secure_my_spot import metrics


def _snapshot_message(subscription: Subscription) -> bytes:
    version = availability_version_get()
    spots = orjson.Fragment(subscription.snapshot_json())
    return orjson.dumps({"type": "snapshot", "version": version.number, "spots": spots})


class AvailabilitySubscriber:
    """Joins the area's cell groups before taking the snapshot, so no delta falls between.

    Deltas come from the process's fan-out (availability.fanout) into an inbox read beside
    the connection, in place of a channel-layer channel per consumer.
    """

    subscription: Subscription | None = None
    fanout: Fanout | None = None

    async def __call__(self, scope: dict, receive, send) -> None:
        """channels' consumer loop, reading one inbox that the connection's messages and the
        fan-out's deltas both go to: a delta wakes this task once (channels' loop over two
        sources makes a task and a wait per message, a cost paid per subscriber)."""
        self.scope = scope
        self.base_send = send
        self.inbox: asyncio.Queue = asyncio.Queue()
        reading = asyncio.create_task(self._read(receive))
        try:
            while True:
                await self.dispatch(await self.inbox.get())
        except StopConsumer:
            pass
        finally:
            reading.cancel()
            await self.unsubscribe()

    async def _read(self, receive) -> None:
        while True:
            self.inbox.put_nowait(await receive())

    async def dispatch(self, message: dict) -> None:
        """Deltas skip channels' dispatch, which first closes stale database connections in
        a worker thread: a thread hop per subscriber per delta, for handlers that use none."""
        if message["type"] == DELTAS:
            await self.availability_deltas(message)
        elif message["type"] == LOST:
            await self.availability_lost()
        else:
            await super().dispatch(message)

    async def subscribe(self, params: Mapping[str, object]) -> bytes:
        """The snapshot message; a bad area raises DRF's ValidationError, nothing joined."""
        subscription = subscription_parse(params)  # validation only: no query runs yet
        await self.unsubscribe()
        self.fanout = fanout_get()
        await self.fanout.join(self.inbox, subscription.groups)
        self.subscription = subscription
        metrics.PUSH_SUBSCRIBERS.inc()
        return await database_sync_to_async(_snapshot_message)(subscription)

    async def unsubscribe(self) -> None:
        subscription, self.subscription = self.subscription, None
        if subscription is not None:
            metrics.PUSH_SUBSCRIBERS.dec()
            await self.fanout.leave(self.inbox, subscription.groups)

    def deltas_in_area(self, event: dict) -> list[bytes]:
        """The event's deltas (serialised once for all, by the fan-out) inside the area."""
        if self.subscription is None:
            return []
        return [
            message for lat, lng, message in event["deltas"] if self.subscription.covers(lat, lng)
        ]


def _error(exc: serializers.ValidationError) -> bytes:
    return orjson.dumps({"type": "error", "errors": exc.detail})


def _query_params(scope: dict) -> dict[str, str]:
    try:
        return QueryDict(scope.get("query_string", b"")).dict()
    except TooManyFieldsSent as exc:
        raise serializers.ValidationError({"detail": "Too many query parameters."}) from exc


class AvailabilityConsumer(AvailabilitySubscriber, AsyncWebsocketConsumer):
    """Subscribe in the query string on connect, or send `{"bbox": ...}` / `{"lat": ...}`
    at any time to move the area (a map pans)."""

    async def connect(self) -> None:
        await self.accept()
        try:
            params = _query_params(self.scope)
        except serializers.ValidationError as exc:
            await self.send(text_data=_error(exc).decode())
            return
        if params:
            await self._subscribe(params)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            params = orjson.loads(text_data or bytes_data or b"")
        except orjson.JSONDecodeError:
            params = None
        if not isinstance(params, dict):
            await self.send(
                text_data=_error(
                    serializers.ValidationError(
                        {"detail": 'Expected a JSON object: {"bbox": ...} or {"lat": ...}.'}
                    )
                ).decode()
            )
            return
        await self._subscribe(params)

    async def _subscribe(self, params: Mapping[str, object]) -> None:
        try:
            snapshot = await self.subscribe(params)
        except serializers.ValidationError as exc:
            await self.send(text_data=_error(exc).decode())
            return
        await self.send(text_data=snapshot.decode())

    async def availability_deltas(self, event: dict) -> None:
        for message in self.deltas_in_area(event):
            await self.send(text_data=message.decode())

    async def availability_lost(self) -> None:
        """1011, an internal error: the client reconnects and gets a new snapshot."""
        await self.close(code=1011)
        raise StopConsumer

    async def disconnect(self, code: int) -> None:
        await self.unsubscribe()


class AvailabilityEventsConsumer(AvailabilitySubscriber, AsyncHttpConsumer):
    """Server-Sent Events: `event: snapshot`, then `event: delta`, one JSON object each."""

    async def http_request(self, message: dict) -> None:
        """Open the stream and keep it open until the client goes (`http.disconnect`).

        AsyncHttpConsumer's `handle()` ends the response when it returns; here deltas arrive
        afterwards, as channel-layer messages.
        """
        if message.get("more_body"):
            return  # a GET's body is of no interest: wait for its end
        try:
            snapshot = await self.subscribe(_query_params(self.scope))
        except serializers.ValidationError as exc:
            await self.send_response(
                400, orjson.dumps(exc.detail), headers=[(b"Content-Type", b"application/json")]
            )
            raise StopConsumer from None
        await self.send_headers(
            headers=[
                (b"Content-Type", b"text/event-stream"),
                (b"Cache-Control", b"no-cache"),
                (b"X-Accel-Buffering", b"no"),  # nginx passes each event on at once
            ]
        )
        await self.send_body(_event("snapshot", snapshot), more_body=True)

    async def availability_deltas(self, event: dict) -> None:
        for message in self.deltas_in_area(event):
            await self.send_body(_event("delta", message), more_body=True)

    async def availability_lost(self) -> None:
        """The stream ends: an EventSource reconnects and gets a new snapshot."""
        await self.send_body(b"", more_body=False)
        raise StopConsumer

    async def disconnect(self) -> None:
        await self.unsubscribe()


def _event(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
