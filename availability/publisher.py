"""The one process that turns committed changes and passing time into push deltas.

The triggers NOTIFY `availability` with the spot ids a commit touched ('*' for a bulk
change); a reservation that starts or runs out by time sends nothing, so the publisher also
wakes at the state row's `next_change_at` (bumping the version like any reader would) and
compares the spots held now with those held before. It remembers which spots are
unavailable and publishes only real flips: a booking for tomorrow sends nothing today.
A PostgreSQL advisory lock keeps a second copy waiting as a hot standby.

A lost database or channel-layer connection (a restart) is waited out with backoff, never
fatal: the publisher then listens again and compares every spot, so what changed meanwhile
is published late, not lost.
"""

import contextlib
import logging
import random
import select
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import Error, connection
from django.utils import timezone
from redis import RedisError

from availability.selectors import (
    availability_version_get,
    spot_ids_held_now,
    spot_ids_unavailable,
    spot_positions_available,
)
from availability.spot_json import spots_by_id
from availability.subscriptions import cell_group
from parking_spots.models import ParkingSpot
from secure_my_spot.db import database_unavailable
from secure_my_spot.locking import advisory_session_lock

logger = logging.getLogger(__name__)

CHANNEL = "availability"
LOCK_KEY = 0x5A7A11  # the session advisory lock that lets one publisher run at a time
# With nothing notified for this long, compare every spot anyway: a safety net that costs
# two small queries.
RESYNC_SECONDS = 30.0
# Wake a little after a moment, so the moment has surely passed by the database's clock too.
MOMENT_SLACK_SECONDS = 0.005
# Waits between reconnection attempts: doubling from the first to the cap, each drawn between
# half and all of that so that restarted copies do not retry in step.
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0


class AvailabilityPublisher:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        # What subscribers were last told; read at the first listen(), so that a publisher
        # started while PostgreSQL is away waits for it like one that lost it.
        self.held: set[int] | None = None
        self.unavailable: set[int] | None = None

    def listen(self) -> None:
        if self.unavailable is None:
            self.held = spot_ids_held_now()
            self.unavailable = spot_ids_unavailable()
        advisory_session_lock(key=LOCK_KEY)
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")
        # Anything committed while we waited for the lock.
        with self._forgotten_unless_sent():
            self.publish(self.changes(None))

    def step(self, *, timeout: float = RESYNC_SECONDS) -> list[dict]:
        """Wait for a notification or the next moment (at most `timeout`), then publish."""
        version = availability_version_get()
        wait = min(timeout, _seconds_until(version.next_change_at))
        raw = connection.connection
        # psycopg2's own calls, wrapped as Django's are: a lost connection is Django's error.
        with connection.wrap_database_errors:
            # Notifications may have come in with a query's answer already (this connection's).
            if not raw.notifies and select.select([raw], [], [], max(wait, 0.0)) != ([], [], []):
                raw.poll()
        spot_ids: set[int] | None = set()
        for notify in raw.notifies:
            if notify.payload == "*":
                spot_ids = None
            elif spot_ids is not None:
                spot_ids.update(int(spot_id) for spot_id in notify.payload.split(","))
        raw.notifies.clear()
        if spot_ids == set() and wait >= timeout:
            spot_ids = None  # nothing happened for a while: full comparison
        availability_version_get()  # a passed moment bumps the version for the routes too
        with self._forgotten_unless_sent():
            deltas = self.changes(spot_ids)
            self.publish(deltas)
        return deltas

    def run(self) -> None:
        """Publish until stopped, waiting out lost connections (module docstring)."""
        failures = 0
        listening = False
        while True:
            try:
                if not listening:
                    self.listen()
                    listening = True
                    if failures:
                        logger.info("Publisher reconnected after %d attempts", failures)
                        failures = 0
                self.step()
            except (Error, RedisError, OSError) as exc:
                if not _connection_lost(exc):
                    raise
                listening = False
                failures += 1
                delay = _reconnect_delay(failures)
                log = logger.warning if failures == 1 else logger.debug
                reason = str(exc).split("\n", 1)[0] or type(exc).__name__
                log("Publisher lost its connection (%s); retrying in %.1f s", reason, delay)
                _disconnect()
                time.sleep(delay)

    @contextlib.contextmanager
    def _forgotten_unless_sent(self) -> Iterator[None]:
        """Deltas computed but not sent (the connection was lost) are forgotten, so that the
        comparison after reconnecting finds them again. A cell that got its part already gets
        it twice, harmlessly: a delta states availability, it does not toggle it."""
        told = set(self.held), set(self.unavailable)
        try:
            yield
        except BaseException:
            self.held, self.unavailable = told
            raise

    def changes(self, spot_ids: set[int] | None) -> list[dict]:
        """Deltas for the spots that flipped; `None` looks at every spot."""
        held = spot_ids_held_now()
        if spot_ids is None:
            candidates = spot_ids_unavailable() ^ self.unavailable
        else:
            candidates = spot_ids | (held ^ self.held)
        self.held = held
        positions = spot_positions_available(spot_ids=candidates)
        self.unavailable -= candidates - positions.keys()  # deleted spots
        deltas = []
        for spot_id, (lat, lng, available) in sorted(positions.items()):
            if available != (spot_id in self.unavailable):
                continue
            if available:
                self.unavailable.discard(spot_id)
            else:
                self.unavailable.add(spot_id)
            deltas.append({"spot_id": spot_id, "available": available, "lat": lat, "lng": lng})
        self.describe_freed(deltas)
        return deltas

    @staticmethod
    def describe_freed(deltas: list[dict]) -> None:
        """A spot that comes free carries its public fields, as the REST routes write them:
        a client may never have seen it (it was taken when its snapshot was made)."""
        freed = [delta["spot_id"] for delta in deltas if delta["available"]]
        if not freed:
            return
        by_id = spots_by_id(ParkingSpot.objects.filter(pk__in=freed))
        for delta in deltas:
            if delta["available"]:
                delta["spot"] = by_id[delta["spot_id"]]

    def publish(self, deltas: list[dict]) -> None:
        by_cell: dict[str, list[dict]] = defaultdict(list)
        for delta in deltas:
            by_cell[cell_group(float(delta["lat"]), float(delta["lng"]))].append(delta)
        for group, cell_deltas in by_cell.items():
            async_to_sync(self.layer.group_send)(
                group, {"type": "availability.deltas", "deltas": cell_deltas}
            )


def _connection_lost(exc: BaseException) -> bool:
    return database_unavailable(exc) or isinstance(exc, RedisError | OSError)


def _reconnect_delay(failures: int) -> float:
    ceiling = min(RECONNECT_MAX_SECONDS, RECONNECT_FIRST_SECONDS * 2 ** (failures - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


def _disconnect() -> None:
    """Drop the connection (and with it the session's advisory lock and LISTEN); the next
    query opens a new one."""
    with contextlib.suppress(Error):
        connection.close()


def _seconds_until(moment: datetime | None) -> float:
    if moment is None:
        return RESYNC_SECONDS
    return (moment - timezone.now()).total_seconds() + MOMENT_SLACK_SECONDS
