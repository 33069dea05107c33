import logging
import secrets
from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import chain

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from redis import Redis
from redis.exceptions import RedisError

from availability.encoding import ETAG_SUFFIX
from availability.services import availability_version_advance
from availability.types import CoveredSearch, StreamedBody, Version
from parking_spots.geo import BBox, Circle, Unit
from parking_spots.models import ParkingSpot
from reservations.models import Reservation
from reservations.selectors import reservation_holding_q, spot_ids_held_within, spot_is_held_now
from reservations.windows import Window


def parking_spot_list_available(*, window: Window | None = None) -> QuerySet[ParkingSpot]:
    """The single definition of "available" that both spot routes share: free now, or, given
    a `window`, free to be booked for all of it (reservations.selectors).

    It stays a plain filter on the spot table so that every other query (the radius search,
    the reservations' exclusion of held spots) composes with it in one SQL statement.
    """
    if window is None:
        return ParkingSpot.objects.filter(~spot_is_held_now(), active=True)
    held = spot_ids_held_within(start=window.start, end=window.end, now=timezone.now())
    return ParkingSpot.objects.filter(~Q(pk__in=held), active=True)


def parking_spot_list_available_near(
    *,
    lat: float,
    lng: float,
    dist: float,
    unit: Unit,
    limit: int | None = None,
    window: Window | None = None,
) -> QuerySet[ParkingSpot]:
    """Available spots within `dist` great-circle distance, nearest first, with `distance`."""
    circle = Circle.around(lat=lat, lng=lng, dist=dist, unit=unit)
    spots = (
        parking_spot_list_available(window=window)
        .filter(circle.in_boxes())
        .alias(angle=circle.central_angle())
        .filter(angle__lte=circle.angle)
        .annotate(distance=F("angle") * unit.earth_radius)
        .order_by("distance", "id")
    )
    return spots[:limit] if limit is not None else spots


def parking_spot_list_available_in(
    *, bbox: BBox, window: Window | None = None
) -> QuerySet[ParkingSpot]:
    """Available spots in a map viewport, in id order (a stable body for one version)."""
    return parking_spot_list_available(window=window).filter(bbox.in_box()).order_by("id")


VERSION = """
SELECT version, changed_at, next_change_at, next_change_at <= statement_timestamp()
FROM availability_availabilitystate WHERE id = 1
"""

logger = logging.getLogger(__name__)

# The bodies this process built or fetched for the newest version it has seen, so a warm
# poll does not even go to Redis. Bounded: each variant (shape, encoding, viewport, search)
# is an entry; a snapshot larger than the byte bound alone (the identity snapshot past
# ~200k spots) is never whole in a process: Redis holds it in parts, streamed per request.
_latest_bodies: dict[str, bytes] = {}
LATEST_BODIES_MAX = 64
LATEST_BODIES_MAX_BYTES = 64 * 1024 * 1024
# Snapshot bodies in Redis, by ETag: the version, then what SNAPSHOT_SUFFIXES adds (the
# columnar shape, an encoding); the index is a sorted set of the versions stored.
SNAPSHOT_KEY = "availability:snapshot:{tag}"
# A large snapshot: a hash of parts of about SNAPSHOT_PART_BYTES ("0", "1", ...) beside
# "length" and "parts", under its tag's key plus this suffix.
PARTS_SUFFIX = ":parts"
SNAPSHOT_PART_BYTES = 4 * 1024 * 1024
SNAPSHOT_INDEX_KEY = "availability:snapshots"
COLUMNAR_SUFFIX = "-columnar"
SNAPSHOT_SUFFIXES = tuple(
    shape + encoding for shape in ("", COLUMNAR_SUFFIX) for encoding in ETAG_SUFFIX.values()
)
# Bytes of search covers stored in the current window (one search TTL long).
SEARCH_BUDGET_KEY = "availability:search-bytes"


def availability_version_get() -> Version:
    """The current version: one primary-key read, plus one UPDATE once per passed moment."""
    with connection.cursor() as cursor:
        cursor.execute(VERSION)
        row = cursor.fetchone()
    if row is None or row[3]:
        return availability_version_advance()
    return Version(number=row[0], changed_at=row[1], next_change_at=row[2])


def availability_snapshot_body(
    *, version: Version, tag: str, build: Callable[[], Generator[bytes, None, None]]
) -> bytes | StreamedBody:
    """The all-spots body of ETag `tag` (a shape and an encoding of `version`): built once
    per version from `build`'s pieces, shared through Redis, where only this version and
    the one before it stay.

    A body keyed by a version may hold a slightly newer answer (a commit between reading
    the version and the spots), never an older one: the next poll then simply refetches.
    A body past LATEST_BODIES_MAX_BYTES is never whole in a process: its pieces go to Redis
    as they are built and come back part by part, so a worker's memory does not grow with
    the inventory. Redis being down costs speed, not answers: the body is then built for
    this request (and streamed as it is built when large).
    """
    if connection.in_atomic_block:
        # This transaction may see its own uncommitted writes, which the version does not
        # count yet (or ever, on rollback): they must not reach the shared cache.
        return _whole_or_streamed(build())
    body = _latest_bodies.get(tag)
    if body is not None:
        return body
    key = cache.make_key(SNAPSHOT_KEY.format(tag=tag))
    try:
        # The raw client: bytes stored as they are (no pickling), and a pipeline to prune.
        client = cache._cache.get_client(write=True)
        body, parts = _snapshot_fetch(client, key)
    except RedisError:
        logger.warning("availability cache unreachable; building the body uncached")
        return _whole_or_streamed(build())
    if parts is not None:
        return parts
    if body is None:
        pieces = build()
        head, whole = _head(pieces)
        if not whole:
            return _snapshot_store_parts(
                client, version=version, tag=tag, pieces=pieces, head=head, build=build
            )
        body = b"".join(head)
        try:
            _snapshot_store(client, version=version, tag=tag, body=body)
        except RedisError:
            logger.warning("availability cache unreachable; body not shared")
    _remember(version=version, tag=tag, body=body)
    return body


def _head(pieces: Iterator[bytes]) -> tuple[list[bytes], bool]:
    """The pieces up to the first past LATEST_BODIES_MAX_BYTES, and whether that was all."""
    head, size = [], 0
    for piece in pieces:
        head.append(piece)
        size += len(piece)
        if size > LATEST_BODIES_MAX_BYTES:
            return head, False
    return head, True


def _whole_or_streamed(pieces: Iterator[bytes]) -> bytes | StreamedBody:
    head, whole = _head(pieces)
    return b"".join(head) if whole else StreamedBody(pieces=chain(head, pieces), length=None)


def _snapshot_fetch(client: Redis, key: str) -> tuple[bytes | None, StreamedBody | None]:
    """(the body, None) when small, (None, its parts) when large, or (None, None)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.hmget(key + PARTS_SUFFIX, "length", "parts")
        body, (length, parts) = pipe.execute()
    if length is None:
        return body, None
    return None, StreamedBody(
        pieces=_snapshot_parts(client, key + PARTS_SUFFIX, int(parts)), length=int(length)
    )


def _snapshot_parts(client: Redis, key: str, parts: int) -> Iterator[bytes]:
    """A large body's parts, one round trip each. Pruned meanwhile (two newer versions came
    while a slow client read), the answer is cut short: the client sees fewer bytes than
    Content-Length and polls again."""
    for number in range(parts):
        part = client.hget(key, str(number))
        if part is None:
            logger.warning("availability snapshot %s pruned while it was being sent", key)
            return
        yield part


def _snapshot_store_parts(
    client: Redis,
    *,
    version: Version,
    tag: str,
    pieces: Generator[bytes, None, None],
    head: list[bytes],
    build: Callable[[], Generator[bytes, None, None]],
) -> StreamedBody:
    """Write a large body's pieces to Redis as they come, publish the hash whole
    (RENAMENX: the first worker's build of a version stands, so no reader ever mixes the
    parts of two builds), and answer from what was published."""
    key = cache.make_key(SNAPSHOT_KEY.format(tag=tag))
    building = f"{key}{PARTS_SUFFIX}:building:{secrets.token_hex(8)}"
    ttl = settings.AVAILABILITY_SNAPSHOT_TTL_SECONDS
    try:
        length = number = 0
        for part in _parts(chain(head, pieces)):
            with client.pipeline(transaction=False) as pipe:
                pipe.hset(building, str(number), part)
                pipe.expire(building, ttl)  # a build cut short leaves nothing for long
                pipe.execute()
            length, number = length + len(part), number + 1
        client.hset(building, mapping={"length": length, "parts": number})
        _snapshot_store(client, version=version, tag=tag, parts_from=building)
        _, stored = _snapshot_fetch(client, key)
    except RedisError:
        pieces.close()  # its transaction ends before the next build's begins
        logger.warning("availability cache unreachable; large body streamed unshared")
        return _whole_or_streamed(build())
    # Pruned already (a burst of newer versions): what was built is gone, so build again.
    return stored or _whole_or_streamed(build())


def _parts(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Pieces joined into parts of at least SNAPSHOT_PART_BYTES (the last may be less)."""
    part, size = [], 0
    for piece in pieces:
        part.append(piece)
        size += len(piece)
        if size >= SNAPSHOT_PART_BYTES:
            yield b"".join(part)
            part, size = [], 0
    if part:
        yield b"".join(part)


def _snapshot_store(
    client: Redis,
    *,
    version: Version,
    tag: str,
    body: bytes | None = None,
    parts_from: str | None = None,
) -> None:
    """Store `body` (or publish the parts hash `parts_from`) and drop every snapshot older
    than the newest version's predecessor.

    Workers may race to store the same or different versions, or a slow one an old version:
    each stores and registers its body in one transaction, then prunes below the newest
    registered version minus one, so once the last store has pruned, Redis holds at most
    two versions of the snapshot, whatever the order. The TTL only clears an idle Redis.
    """
    index = cache.make_key(SNAPSHOT_INDEX_KEY)
    key = cache.make_key(SNAPSHOT_KEY.format(tag=tag))
    ttl = settings.AVAILABILITY_SNAPSHOT_TTL_SECONDS
    with client.pipeline(transaction=True) as pipe:
        if parts_from is None:
            pipe.set(key, body, ex=ttl)
        else:
            pipe.renamenx(parts_from, key + PARTS_SUFFIX)
            pipe.delete(parts_from)  # still there only if another worker published first
            pipe.expire(key + PARTS_SUFFIX, ttl)
        pipe.zadd(index, {version.number: version.number})
        pipe.expire(index, ttl)
        pipe.zrevrange(index, 0, 0, withscores=True)
        newest = int(pipe.execute()[-1][0][1])
    stale = [int(number) for number in client.zrangebyscore(index, "-inf", newest - 2)]
    if stale:
        with client.pipeline(transaction=True) as pipe:
            pipe.delete(
                *(
                    cache.make_key(SNAPSHOT_KEY.format(tag=f"{number}{suffix}")) + large
                    for number in stale
                    for suffix in SNAPSHOT_SUFFIXES
                    for large in ("", PARTS_SUFFIX)
                )
            )
            pipe.zrem(index, *stale)
            pipe.execute()


def availability_search_body(*, version: Version, tag: str, search: CoveredSearch) -> bytes:
    """A search's body for ETag `tag` of `version`, trimmed from its cover.

    The cover, not the answer, is shared through Redis: nearby polls (a centre within the
    same grid cell, a viewport within the same cells) share one entry, and what Redis holds
    for searches is bounded by AVAILABILITY_SEARCH_CACHE_BYTES however many distinct
    questions arrive.
    """
    if connection.in_atomic_block:  # see availability_snapshot_body
        return search.trim(_encoded(search.cover()))
    body = _latest_bodies.get(tag)
    if body is None:
        body = search.trim(_search_cover(version=version, search=search))
        _remember(version=version, tag=tag, body=body)
    return body


def availability_answer_body(*, version: Version, tag: str, answer: Callable[[], bytes]) -> bytes:
    """A search's body for ETag `tag` of `version`, built straight by `answer`.

    Nothing goes to Redis: a radius search's exact answer costs less than fetching and
    trimming a shared cover, and an endless stream of distinct centres stores nothing.
    This process keeps it for polls of the same question.
    """
    if connection.in_atomic_block:  # see availability_snapshot_body
        return answer()
    body = _latest_bodies.get(tag)
    if body is None:
        body = answer()
        _remember(version=version, tag=tag, body=body)
    return body


def _search_cover(*, version: Version, search: CoveredSearch) -> bytes:
    key = f"availability:cover:{version.number}:{search.key}"
    try:
        cover = cache.get(key)
    except RedisError:
        logger.warning("availability cache unreachable; building the search uncached")
        return _encoded(search.cover())
    if cover is None:
        cover = _encoded(search.cover())
        try:
            if _search_budget_allows(size=len(cover)):
                cache.set(key, cover, timeout=settings.AVAILABILITY_SEARCH_TTL_SECONDS)
        except RedisError:
            logger.warning("availability cache unreachable; search cover not shared")
    return cover


def _search_budget_allows(*, size: int) -> bool:
    """Whether `size` more bytes of covers fit this window's budget, counted in Redis for
    every worker. A window lasts one search TTL, so each cover is gone by the end of the
    window after its own: Redis holds at most twice the budget of covers."""
    cache.add(SEARCH_BUDGET_KEY, 0, timeout=settings.AVAILABILITY_SEARCH_TTL_SECONDS)
    try:
        spent = cache.incr(SEARCH_BUDGET_KEY, size)
    except ValueError:  # the window ended between the two calls: the next search opens one
        return False
    return spent <= settings.AVAILABILITY_SEARCH_CACHE_BYTES


def _encoded(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _remember(*, version: Version, tag: str, body: bytes) -> None:
    """Keep `body` in this process's memory, dropping everything of older versions first;
    a body of an older version (a request that read the version before a change) or larger
    than the whole budget is not kept."""
    held = {int(known.split("-")[0]) for known in _latest_bodies}
    if len(body) > LATEST_BODIES_MAX_BYTES or any(number > version.number for number in held):
        return
    if (
        len(_latest_bodies) >= LATEST_BODIES_MAX
        or sum(map(len, _latest_bodies.values())) + len(body) > LATEST_BODIES_MAX_BYTES
        or any(known.split("-")[0] != str(version.number) for known in _latest_bodies)
    ):
        _latest_bodies.clear()
    _latest_bodies[tag] = body


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
