"""A spot's public JSON: the one definition that the REST routes and push messages write.

Four writers produce it: DRF (the contract, for the schema and the tests that pin the
others); each spot's stored object, which a trigger writes on every write of the row
(parking_spots migration 0007; the all-spots snapshot and the radius search copy it out);
PostgreSQL's json_build_object (viewports, windows and push, hundreds of spots at a time);
and PostgreSQL's string_agg of to_json, a column at a time (the columnar snapshot). Each
takes its fields, in order, from SPOT_FIELDS. Every spot written here is available, so
never `reserved`.

`?format=columnar` asks for the same values without a key per value, by column: `{"id":
[...], "lat": [...], ...}`, the n-th spot's values at index n of every array. Similar values
side by side also compress better: at 13,241 spots 2.02 MB, 181 KB gzip'd, 169 KB in
brotli, against 3.93 MB, 260 KB and 246 KB for the array of objects.
"""

import math
import weakref
from collections.abc import Iterator, Sequence

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from psycopg2.extensions import BYTES, register_type
from rest_framework import serializers

from availability.selectors import parking_spot_list_available
from parking_spots.geo import BBox, Circle, Unit, box_text
from parking_spots.models import POSITION_ORDER, ParkingSpot
from reservations.models import ReservationStatus

SPOT_FIELDS = (
    "id",
    "lat",
    "lng",
    "rate",
    "reserved",
    "active",
    "created_at",
    "updated_at",
    "meter_number",
    "borough",
    "street",
    "side_of_street",
    "time_limit_minutes",
)
# The radius searches add it: from the query point, in the query's unit (the selectors'
# annotation of that name).
DISTANCE = "distance"
DISTANCE_KEY = f',"{DISTANCE}":'.encode()  # appended to a stored, open object


class SpotOutputSerializer(serializers.ModelSerializer):
    reserved = serializers.SerializerMethodField()

    class Meta:
        model = ParkingSpot
        fields = list(SPOT_FIELDS)

    def get_reserved(self, spot: ParkingSpot) -> bool:
        return False


class SpotDistanceOutputSerializer(SpotOutputSerializer):
    distance = serializers.FloatField(help_text="From the query point, in the query's unit.")

    class Meta(SpotOutputSerializer.Meta):
        fields = [*SPOT_FIELDS, DISTANCE]


def _utc_iso(column: str) -> str:
    """ISO 8601 in UTC as DRF writes it: microseconds unless there are none, then "Z"."""
    return f"replace(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"


# How PostgreSQL writes the fields that are not the column as it is (`s`: the spots subquery).
SQL_EXPRESSIONS = {
    "lat": "s.lat::text",
    "lng": "s.lng::text",
    "rate": "s.rate::text",
    "reserved": "false",
    "created_at": _utc_iso("s.created_at"),
    "updated_at": _utc_iso("s.updated_at"),
}
COLUMNS = [name for name in SPOT_FIELDS if name != "reserved"]
# The all-spots answer's order: the table's own (read along its position index, no sort of
# the wide rows) and neighbours side by side, which share streets and digits: at 13,241
# spots 260 KB gzip'd against 349 KB in id order.
SNAPSHOT_ORDER = POSITION_ORDER
# Spots per piece of the all-spots body (~600 KB), one FETCH each: what a process holds of
# it while building. Measured at 100k spots: 121 ms to fetch all at 2,000 a piece, 134 at
# 1,000, 194 at 10,000, 200 in one fetch: not the round trips, larger fetches were slower.
SNAPSHOT_PIECE_SPOTS = 2_000


def spots_snapshot_json() -> Iterator[bytes]:
    """Every available spot, by position (SNAPSHOT_ORDER): the all-spots route's body, in
    pieces of SNAPSHOT_PIECE_SPOTS spots read from a server-side cursor.

    Each spot's stored object (parking_spots migration 0007, kept open) is fetched as
    bytes, closed and joined: no value is formatted, and no value becomes a Python object
    but the object's bytes. Pieces, so that a million spots' 292 MB are never in one
    process at once (availability.selectors keeps a small body whole and streams a large
    one through Redis).
    """
    spots = (
        parking_spot_list_available()
        .order_by(*SNAPSHOT_ORDER)
        .annotate(public_json_open=RawSQL('"parking_spots_parkingspot"."public_json_open"', ()))
        .values_list("public_json_open")
    )
    try:
        sql, params = spots.query.sql_with_params()
    except EmptyResultSet:
        yield b"[]"
        return
    separator = b"["
    # A transaction, so the cursor streams rather than materialising its result (WITH HOLD).
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        # Undecoded: the objects are UTF-8 already, and go out as they are.
        register_type(BYTES, cursor.cursor)
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(SNAPSHOT_PIECE_SPOTS):
            yield separator  # on its own: joined to the spots, it would copy them again
            yield b"},".join([row[0] for row in rows])
            separator = b"},"
    yield b"[]" if separator == b"[" else b"}]"


def _closed_array(objects: list[bytes]) -> bytes:
    """The open objects (without their closing brace), closed, as a JSON array, in one
    pass over the bytes: the brackets ride on the first and the last object."""
    if not objects:
        return b"[]"
    objects[0] = b"[" + objects[0]
    objects[-1] += b"}]"
    return b"},".join(objects)


def spots_snapshot_columnar_json() -> Iterator[bytes]:
    """The all-spots body as `?format=columnar` has it: the same values, by column, each
    column's array written by PostgreSQL in one statement (so every column holds the same
    spots) and fetched a column at a time, one piece each.

    A million spots made Python objects of 13 million values (2.4 GB at a worker's peak);
    here the process holds one column's bytes at a time (30 MB at most at a million).
    """
    try:
        sql, params = (
            parking_spot_list_available()
            .order_by(*SNAPSHOT_ORDER)
            .values(*COLUMNS)
            .query.sql_with_params()
        )
    except EmptyResultSet:
        yield orjson.dumps({name: [] for name in SPOT_FIELDS})
        return
    arrays = ", ".join(
        # string_agg skips NULLs, and has no rows to join for no spots: both spelled out.
        f"coalesce('[' || string_agg(coalesce(to_json({expression})::text, 'null'), ',') "
        f"|| ']', '[]') AS c{number}"
        for number, expression in enumerate(
            SQL_EXPRESSIONS.get(name, f"s.{name}") for name in SPOT_FIELDS
        )
    )
    rows = ", ".join(f"({number}, c{number})" for number in range(len(SPOT_FIELDS)))
    # The aggregates take the rows in the subquery's order, as spots_json's json_agg does;
    # the one row of arrays comes back as a row per column, for the cursor to fetch singly.
    query = (
        f"SELECT v.piece FROM (SELECT {arrays} FROM ({sql}) s) a "  # noqa: S608
        f"CROSS JOIN LATERAL (VALUES {rows}) v(number, piece) ORDER BY v.number"
    )
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        register_type(BYTES, cursor.cursor)
        cursor.execute(query, params)
        for number, name in enumerate(SPOT_FIELDS):
            (values,) = cursor.fetchone()
            yield (b"{" if number == 0 else b",") + orjson.dumps(name) + b":" + values
    yield b"}"


def spots_columnar(body: bytes | str, *, with_distance: bool = False) -> bytes:
    """A JSON array of spots (any writer's) in the columnar shape."""
    fields = [*SPOT_FIELDS, DISTANCE] if with_distance else list(SPOT_FIELDS)
    rows = [[spot[name] for name in fields] for spot in orjson.loads(body)]
    return orjson.dumps(_by_column(fields, rows))


def _by_column(fields: Sequence[str], rows: Sequence[Sequence]) -> dict[str, Sequence]:
    return dict(zip(fields, list(zip(*rows, strict=True)) or [()] * len(fields), strict=True))


def spots_json(spots: QuerySet[ParkingSpot], *, with_distance: bool = False) -> str:
    """The spots as a JSON array, in the queryset's order (with its `distance` if asked).

    PostgreSQL writes the JSON: maps poll these routes for hundreds of spots at a time, and
    building them in Python (DRF fields, or even plain dicts and json.dumps) cost several
    times the query. A test pins this output to the serializer's.
    """
    extra = [DISTANCE] if with_distance else []
    try:
        sql, params = spots.values(*COLUMNS, *extra).query.sql_with_params()
    except EmptyResultSet:  # a filter Django knows matches nothing, e.g. `pk__in=[]`
        return "[]"
    fields = {name: SQL_EXPRESSIONS.get(name, f"s.{name}") for name in [*SPOT_FIELDS, *extra]}
    spot = ", ".join(f"'{name}', {expression}" for name, expression in fields.items())
    # Only constants and Django's own compiled SQL are spliced in; values travel as params.
    # json_agg takes the rows in the subquery's order (nearest first): the outer query only
    # scans it, so nothing can reorder them.
    query = f"SELECT coalesce(json_agg(json_build_object({spot})), '[]')::text FROM ({sql}) s"  # noqa: S608
    with connections[spots.db].cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def spots_by_id(spots: QuerySet[ParkingSpot]) -> dict[int, dict]:
    """Each spot's public object, by id: what a push delta carries for a spot that came free."""
    return {spot["id"]: spot for spot in orjson.loads(spots_json(spots))}


def spots_in(cover: bytes, *, bbox: BBox) -> bytes:
    """The spots of `cover` (id order) that lie in `bbox`: PostgreSQL's `point <@ box` is an
    exact comparison of the same doubles, so the answer is the viewport query's own."""
    spots = orjson.loads(cover)
    return orjson.dumps(
        [spot for spot in spots if bbox.contains(float(spot["lat"]), float(spot["lng"]))]
    )


# Available (the selectors' definition, which a test holds this to: active, and no
# reservation holding the spot at the statement's time), in the circle's boxes (the GiST
# index), within its angle; nearest first, then by id. $1.. are the boxes, then the
# centre's radians(lat), cos(radians(lat)) and radians(lng), the angle, the unit's earth
# radius and the limit (NULL: none). Each row: the spot's stored object, kept open
# (parking_spots migration 0007), and its distance.
NEAR_SQL = """
SELECT p.public_json_open, a.angle * ${radius} AS distance
FROM parking_spots_parkingspot p
CROSS JOIN LATERAL (SELECT 2 * asin(least(1, sqrt(
    power(sin((radians(p.lat::double precision) - ${lat}) / 2), 2)
    + ${cos_lat} * cos(radians(p.lat::double precision))
    * power(sin((radians(p.lng::double precision) - ${lng}) / 2), 2)))) AS angle) a
WHERE p.active
    AND ({in_boxes})
    AND a.angle <= ${angle}
    AND NOT EXISTS (
        SELECT FROM reservations_reservation r
        WHERE r.spot_id = p.id
            AND r.start_time <= statement_timestamp()
            AND r.end_time > statement_timestamp()
            AND (r.status = '{active}'
                OR (r.status = '{pending_payment}'
                    AND r.hold_expires_at > statement_timestamp())))
ORDER BY distance, p.id
LIMIT ${limit}
"""
# The connections that hold each prepared statement: planned once per connection.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _near_statement(boxes: int) -> tuple[str, str]:
    """(name, PREPARE) of the search over `boxes` boxes (two across the antimeridian)."""
    point = "point(p.lng::double precision, p.lat::double precision)"
    in_boxes = " OR ".join(f"{point} <@ ${number}" for number in range(1, boxes + 1))
    numbers = dict(
        zip(
            ("lat", "cos_lat", "lng", "angle", "radius", "limit"),
            range(boxes + 1, boxes + 7),
            strict=True,
        )
    )
    types = ["box"] * boxes + ["float8"] * 5 + ["bigint"]
    name = f"availability_near_{boxes}"
    body = NEAR_SQL.format(
        in_boxes=in_boxes,
        active=ReservationStatus.ACTIVE.value,
        pending_payment=ReservationStatus.PENDING_PAYMENT.value,
        **numbers,
    )
    return name, f"PREPARE {name} ({', '.join(types)}) AS {body}"


NEAR_STATEMENTS = {boxes: _near_statement(boxes) for boxes in (1, 2)}


def spots_near_execute(
    *, lat: float, lng: float, dist: float, unit: Unit, limit: int | None
) -> tuple[str, list]:
    """The EXECUTE of the radius search's statement with its parameters, prepared on this
    connection first if need be (EXPLAIN it by prefixing it)."""
    circle = Circle.around(lat=lat, lng=lng, dist=dist, unit=unit)
    boxes = circle.boxes()
    name, prepare = NEAR_STATEMENTS[len(boxes)]
    here_lat = math.radians(lat)
    params = [
        *(box_text(*box) for box in boxes),
        here_lat,
        math.cos(here_lat),
        math.radians(lng),
        circle.angle,
        unit.earth_radius,
        limit,
    ]
    connection.ensure_connection()
    prepared = _prepared.setdefault(connection.connection, set())
    if name not in prepared:
        with connection.cursor() as cursor:
            cursor.execute(prepare)
        prepared.add(name)
    return f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params


def spots_near_json(*, lat: float, lng: float, dist: float, unit: Unit, limit: int | None) -> bytes:
    """The available spots within `dist` of the centre, nearest first, with `distance`:
    the radius route's answer as it has always been written (orjson's compact form), from
    one prepared statement.

    A search at a new centre cost ten times its SQL when Django compiled the queryset and
    Python trimmed a cached cover. Now each spot's stored object comes as bytes and only
    its distance is written here (orjson, as before); PostgreSQL concatenating the answer
    itself took longer at a million spots (~1.9 against ~1.7 ms for 485 spots).
    """
    execute, params = spots_near_execute(lat=lat, lng=lng, dist=dist, unit=unit, limit=limit)
    with connection.cursor() as cursor:
        register_type(BYTES, cursor.cursor)  # UTF-8 already: the objects as they come
        cursor.execute(execute, params)
        rows = cursor.fetchall()
    return _closed_array([spot + DISTANCE_KEY + orjson.dumps(distance) for spot, distance in rows])
