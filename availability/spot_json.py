"""A spot's public JSON: the one definition that the REST routes and push messages write.

Three writers produce it: DRF (the contract, for the schema and the tests that pin the
others), PostgreSQL's json_build_object (the searches and push, hundreds of spots at a
time) and orjson over bare tuples (the all-spots snapshot). Each takes its fields, in order,
from SPOT_FIELDS. Every spot written here is available, so never `reserved`.

`?format=columnar` asks for the same values without a key per value, by column: `{"id":
[...], "lat": [...], ...}`, the n-th spot's values at index n of every array. Similar values
side by side also compress better: at 13,241 spots 2.02 MB, 328 KB gzip'd, 300 KB in
brotli, against 3.93 MB, 459 KB and 396 KB for the array of objects.
"""

from collections.abc import Sequence

import orjson
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet, TextField, Value
from django.db.models.functions import Cast
from rest_framework import serializers

from availability.selectors import parking_spot_list_available
from parking_spots.geo import BBox, Circle, Unit, central_angle
from parking_spots.models import ParkingSpot

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
# What PostgreSQL hands orjson for the snapshot: numeric::text keeps the column's places, as
# the serializer does; timestamps stay datetimes, which orjson writes as DRF does.
SNAPSHOT_EXPRESSIONS = {
    "lat": Cast("lat", TextField()),
    "lng": Cast("lng", TextField()),
    "rate": Cast("rate", TextField()),
    "reserved": Value(False),
}
COLUMNS = [name for name in SPOT_FIELDS if name != "reserved"]


def _snapshot_rows() -> list[tuple]:
    columns = [SNAPSHOT_EXPRESSIONS.get(name, name) for name in SPOT_FIELDS]
    return list(parking_spot_list_available().order_by("id").values_list(*columns))


def spots_snapshot_json() -> bytes:
    """Every available spot, in id order: the all-spots route's body.

    Tuples go straight into orjson, without a per-object serializer; built once per
    availability version and shared (availability.selectors.availability_snapshot_body).
    """
    spots = [dict(zip(SPOT_FIELDS, row, strict=True)) for row in _snapshot_rows()]
    return orjson.dumps(spots, option=orjson.OPT_UTC_Z)  # "...Z" for UTC, as DRF writes


def spots_snapshot_columnar_json() -> bytes:
    """The all-spots body as `?format=columnar` has it: the same values, by column."""
    return orjson.dumps(_by_column(SPOT_FIELDS, _snapshot_rows()), option=orjson.OPT_UTC_Z)


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


def spots_near(
    cover: bytes, *, lat: float, lng: float, dist: float, unit: Unit, limit: int | None
) -> bytes:
    """The spots of `cover` within `dist` of the centre, nearest first, with `distance`: the
    radius query's own answer (geo.central_angle repeats its SQL operation for operation)."""
    angle = Circle.around(lat=lat, lng=lng, dist=dist, unit=unit).angle
    found = []
    for spot in orjson.loads(cover):
        spot_angle = central_angle(lat, lng, float(spot["lat"]), float(spot["lng"]))
        if spot_angle <= angle:
            found.append((spot_angle * unit.earth_radius, spot["id"], spot))
    found.sort(key=lambda item: item[:2])
    return orjson.dumps([{**spot, DISTANCE: distance} for distance, _, spot in found[:limit]])
