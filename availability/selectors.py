from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from availability.services import availability_version_advance
from availability.types import Version
from parking_spots.models import ParkingSpot
from parking_spots.selectors import parking_spot_list_available
from reservations.models import Reservation
from reservations.selectors import reservation_holding_q

VERSION = """
SELECT version, changed_at, next_change_at, next_change_at <= statement_timestamp()
FROM availability_availabilitystate WHERE id = 1
"""

# The newest snapshot this process has, so a warm poll does not even fetch it from Redis.
_latest_snapshot: dict[int, bytes] = {}


def availability_version_get() -> Version:
    """The current version: one primary-key read, plus one UPDATE once per passed moment."""
    with connection.cursor() as cursor:
        cursor.execute(VERSION)
        row = cursor.fetchone()
    if row is None or row[3]:
        return availability_version_advance()
    return Version(number=row[0], changed_at=row[1], next_change_at=row[2])


def spot_snapshot(*, version: Version, build: Callable[[], bytes]) -> bytes:
    """The all-spots body for `version`: built once, shared by every worker through Redis.

    A snapshot keyed by a version may hold a slightly newer answer (a commit between reading
    the version and the spots), never an older one: the next poll then simply refetches.
    """
    if connection.in_atomic_block:
        # This transaction may see its own uncommitted writes, which the version does not
        # count yet (or ever, on rollback): they must not reach the shared cache.
        return build()
    body = _latest_snapshot.get(version.number)
    if body is not None:
        return body
    key = f"availability:snapshot:{version.number}"
    body = cache.get(key)
    if body is None:
        body = build()
        cache.set(key, body, timeout=settings.AVAILABILITY_SNAPSHOT_TTL_SECONDS)
    _latest_snapshot.clear()
    _latest_snapshot[version.number] = body
    return body


def spot_ids_held_now() -> set[int]:
    """Spots a reservation holds now: a handful of rows, found through the status index."""
    holding = Reservation.objects.filter(reservation_holding_q(now=timezone.now()))
    return set(holding.values_list("spot_id", flat=True))


def spot_ids_unavailable() -> set[int]:
    """Every spot the all-spots route leaves out: inactive or held now."""
    inactive = ParkingSpot.objects.filter(active=False).values_list("id", flat=True)
    return set(inactive) | spot_ids_held_now()


def spot_positions_available(*, spot_ids: Iterable[int]) -> dict[int, tuple[str, str, bool]]:
    """(lat, lng, available) of each existing spot among `spot_ids`; push deltas need no more."""
    spots = ParkingSpot.objects.filter(pk__in=list(spot_ids))
    available = set(
        parking_spot_list_available().filter(pk__in=list(spot_ids)).values_list("id", flat=True)
    )
    return {
        spot_id: (str(lat), str(lng), spot_id in available)
        for spot_id, lat, lng in spots.values_list("id", "lat", "lng")
    }
