"""The one process that turns committed changes and passing time into push deltas.

The triggers NOTIFY `availability` with the spot ids a commit touched ('*' for a bulk
change); a reservation that starts or runs out by time sends nothing, so the publisher also
wakes at the state row's `next_change_at` (bumping the version like any reader would) and
compares the spots held now with those held before. It remembers which spots are
unavailable and publishes only real flips: a booking for tomorrow sends nothing today.
A PostgreSQL advisory lock keeps a second copy waiting as a hot standby.
"""

import select
from collections import defaultdict
from datetime import datetime

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from availability.selectors import (
    availability_version_get,
    spot_ids_held_now,
    spot_ids_unavailable,
    spot_positions_available,
)
from availability.subscriptions import cell_group
from availability.views import spots_json
from parking_spots.models import ParkingSpot

CHANNEL = "availability"
LOCK_KEY = 0x5A7A11  # pg_advisory_lock key: one publisher at a time
# With nothing notified for this long, compare every spot anyway: a safety net that costs
# two small queries.
RESYNC_SECONDS = 30.0
# Wake a little after a moment, so the moment has surely passed by the database's clock too.
MOMENT_SLACK_SECONDS = 0.005


class AvailabilityPublisher:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.held = spot_ids_held_now()
        self.unavailable = spot_ids_unavailable()

    def listen(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
            cursor.execute(f"LISTEN {CHANNEL}")
        # Anything committed while we waited for the lock.
        self.publish(self.changes(None))

    def step(self, *, timeout: float = RESYNC_SECONDS) -> list[dict]:
        """Wait for a notification or the next moment (at most `timeout`), then publish."""
        version = availability_version_get()
        wait = min(timeout, _seconds_until(version.next_change_at))
        raw = connection.connection
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
        deltas = self.changes(spot_ids)
        self.publish(deltas)
        return deltas

    def run(self) -> None:
        self.listen()
        while True:
            self.step()

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
        spots = orjson.loads(spots_json(ParkingSpot.objects.filter(pk__in=freed).order_by("id")))
        by_id = {spot["id"]: spot for spot in spots}
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


def _seconds_until(moment: datetime | None) -> float:
    if moment is None:
        return RESYNC_SECONDS
    return (moment - timezone.now()).total_seconds() + MOMENT_SLACK_SECONDS
