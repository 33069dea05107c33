import math
from collections.abc import Mapping

import orjson
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet, TextField, Value
from django.db.models.functions import Cast
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from availability.http import conditional_json
from availability.selectors import (
    parking_spot_list_available,
    parking_spot_list_available_in,
    parking_spot_list_available_near,
)
from availability.throttles import SpotRateThrottle
from availability.types import CoveredSearch
from parking_spots.geo import (
    UNIT_ALIASES,
    BBox,
    Circle,
    Unit,
    bbox_covering,
    central_angle,
    circle_covering,
)
from parking_spots.models import ParkingSpot
from secure_my_spot.api import JSONOnlyNegotiation, validated_query_params

# The largest search radius; a map view wider than this asks for more than a screen shows.
MAX_SEARCH_KM = 50
MAX_LIMIT = 10_000


class FiniteFloatField(serializers.FloatField):
    """A float that is a number: "nan" and "inf" parse as floats but compare as nonsense."""

    def to_internal_value(self, data: object) -> float:
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class BBoxField(serializers.Field):
    """`south,west,north,east` in degrees, as map libraries write a viewport."""

    default_error_messages = {
        "invalid": "Expected south,west,north,east: four numbers in degrees.",
        "range": "Latitudes must lie in [-90, 90], longitudes in [-180, 180].",
        "order": "South must not exceed north, nor west exceed east.",
    }

    def get_value(self, dictionary: Mapping) -> object:
        # Form-style input treats `bbox=` as absent; an empty viewport is a mistake.
        return dictionary.get(self.field_name, empty)

    def to_internal_value(self, data: object) -> BBox:
        parts = str(data).split(",")
        if len(parts) != 4:
            self.fail("invalid")
        try:
            south, west, north, east = (float(part) for part in parts)
        except ValueError:
            self.fail("invalid")
        if not all(math.isfinite(value) for value in (south, west, north, east)):
            self.fail("invalid")
        if not (-90 <= south <= 90 and -90 <= north <= 90):
            self.fail("range")
        if not (-180 <= west <= 180 and -180 <= east <= 180):
            self.fail("range")
        if south > north or west > east:
            self.fail("order")
        return BBox(south=south, west=west, north=north, east=east)

    def to_representation(self, value: BBox) -> str:
        return f"{value.south!r},{value.west!r},{value.north!r},{value.east!r}"


class SpotOutputSerializer(serializers.ModelSerializer):
    # Every listed spot is available, so it is never reserved; the field is the contract's.
    reserved = serializers.SerializerMethodField()

    class Meta:
        model = ParkingSpot
        fields = [
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
        ]

    def get_reserved(self, spot: ParkingSpot) -> bool:
        return False


def _utc_iso(column: str) -> str:
    """ISO 8601 in UTC as DRF writes it: microseconds unless there are none, then "Z"."""
    return f"replace(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"


# How PostgreSQL writes each field of SpotOutputSerializer (`s` is the spots subquery).
SPOT_JSON_FIELDS = {
    "id": "s.id",
    "lat": "s.lat::text",
    "lng": "s.lng::text",
    "rate": "s.rate::text",
    "reserved": "false",
    "active": "s.active",
    "created_at": _utc_iso("s.created_at"),
    "updated_at": _utc_iso("s.updated_at"),
    "meter_number": "s.meter_number",
    "borough": "s.borough",
    "street": "s.street",
    "side_of_street": "s.side_of_street",
    "time_limit_minutes": "s.time_limit_minutes",
}


# What PostgreSQL writes for the orjson snapshot: numeric::text keeps the column's places,
# as the serializer does; every listed spot is available, so never reserved.
SNAPSHOT_EXPRESSIONS = {
    "lat": Cast("lat", TextField()),
    "lng": Cast("lng", TextField()),
    "rate": Cast("rate", TextField()),
    "reserved": Value(False),
}


def spots_snapshot_json() -> bytes:
    """Every available spot as SpotOutputSerializer objects: the all-spots route's body.

    Tuples go straight into orjson, without a per-object serializer; built once per
    availability version and shared (availability.selectors.availability_body_cached).
    """
    fields = list(SPOT_JSON_FIELDS)
    columns = [SNAPSHOT_EXPRESSIONS.get(name, name) for name in fields]
    rows = parking_spot_list_available().order_by("id").values_list(*columns)
    spots = [dict(zip(fields, row, strict=True)) for row in rows]
    return orjson.dumps(spots, option=orjson.OPT_UTC_Z)  # "...Z" for UTC, as DRF writes


def spots_json(spots: QuerySet[ParkingSpot], *annotations: str) -> str:
    """The spots as a JSON array of SpotOutputSerializer objects (plus `annotations`), in order.

    PostgreSQL writes the JSON: maps poll these routes for hundreds of spots at a time, and
    building them in Python (DRF fields, or even plain dicts and json.dumps) cost several
    times the query. A test pins this output to the serializer's.
    """
    columns = [name for name in SPOT_JSON_FIELDS if name != "reserved"]
    try:
        sql, params = spots.values(*columns, *annotations).query.sql_with_params()
    except EmptyResultSet:  # a filter Django knows matches nothing, e.g. `pk__in=[]`
        return "[]"
    fields = {**SPOT_JSON_FIELDS, **{name: f"s.{name}" for name in annotations}}
    spot = ", ".join(f"'{name}', {expression}" for name, expression in fields.items())
    # Only constants and Django's own compiled SQL are spliced in; values travel as params.
    # json_agg takes the rows in the subquery's order (nearest first): the outer query only
    # scans it, so nothing can reorder them.
    query = f"SELECT coalesce(json_agg(json_build_object({spot})), '[]')::text FROM ({sql}) s"  # noqa: S608
    with connections[spots.db].cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


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
    return orjson.dumps([{**spot, "distance": distance} for distance, _, spot in found[:limit]])


def search_in(*, bbox: BBox) -> CoveredSearch:
    """A viewport, answered from the grid-aligned viewport around it."""
    key, cover = bbox_covering(bbox, grid=settings.AVAILABILITY_SEARCH_GRID_DEGREES)
    return CoveredSearch(
        key=key,
        cover=lambda: spots_json(parking_spot_list_available_in(bbox=cover)),
        trim=lambda body: spots_in(body, bbox=bbox),
    )


def search_near(
    *, lat: float, lng: float, dist: float, unit: Unit, limit: int | None
) -> CoveredSearch:
    """A radius search, answered from the covering circle around the nearest grid point."""
    cover = circle_covering(
        lat=lat,
        lng=lng,
        dist=dist,
        unit=unit,
        grid=settings.AVAILABILITY_SEARCH_GRID_DEGREES,
        step_km=settings.AVAILABILITY_SEARCH_STEP_KM,
    )
    return CoveredSearch(
        key=cover.key,
        cover=lambda: spots_json(
            parking_spot_list_available_near(
                lat=cover.lat, lng=cover.lng, dist=cover.dist_km, unit=Unit.KM
            ).order_by("id")
        ),
        trim=lambda body: spots_near(body, lat=lat, lng=lng, dist=dist, unit=unit, limit=limit),
    )


class AvailableParkingSpotListApi(APIView):
    """Every available spot, or those in a viewport; conditional (ETag) for pollers."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes = [SpotRateThrottle]

    class InputSerializer(serializers.Serializer):
        bbox = BBoxField(required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "bbox", OpenApiTypes.STR, description="viewport: south,west,north,east"
            ),
        ],
        responses={200: SpotOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> HttpResponse:
        query = validated_query_params(request, self.InputSerializer)
        if "bbox" not in query:
            return conditional_json(
                request,
                variant="",
                build=spots_snapshot_json,
            )
        bbox = query["bbox"]
        # Built only after the version is read, so the answer is never older than it.
        return conditional_json(request, variant=f"bbox={bbox!r}", search=search_in(bbox=bbox))


class AvailableParkingSpotFilterApi(APIView):
    """Available spots within `dist` of a point, nearest first; maps poll this."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes = [SpotRateThrottle]

    class InputSerializer(serializers.Serializer):
        lat = FiniteFloatField(min_value=-90, max_value=90)
        long = FiniteFloatField(min_value=-180, max_value=180, required=False)
        lng = FiniteFloatField(min_value=-180, max_value=180, required=False)
        unit = serializers.CharField(max_length=16)
        dist = FiniteFloatField()
        limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False)

        def validate_unit(self, value: str) -> object:
            unit = UNIT_ALIASES.get(value.strip().lower())
            if unit is None:
                raise serializers.ValidationError(
                    f"Unknown unit {value!r}: use km or mil (mi, mile, miles)."
                )
            return unit

        def validate(self, attrs: dict) -> dict:
            if "long" not in attrs and "lng" not in attrs:
                raise serializers.ValidationError({"long": ["This field is required."]})
            if "long" in attrs:  # the contract's name wins; `lng` is its alias
                attrs["lng"] = attrs.pop("long")
            dist, unit = attrs["dist"], attrs["unit"]
            if not 0 < unit.to_km(dist) <= MAX_SEARCH_KM:
                maximum = MAX_SEARCH_KM / unit.to_km(1)
                raise serializers.ValidationError(
                    {"dist": [f"Must be above 0 and at most {maximum:g} {unit.value}."]}
                )
            return attrs

    class OutputSerializer(SpotOutputSerializer):
        distance = serializers.FloatField(help_text="From the query point, in the query's unit.")

        class Meta(SpotOutputSerializer.Meta):
            fields = [*SpotOutputSerializer.Meta.fields, "distance"]

    @extend_schema(
        parameters=[
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("long", OpenApiTypes.DOUBLE, required=True, description="or lng"),
            OpenApiParameter("unit", OpenApiTypes.STR, required=True, enum=list(UNIT_ALIASES)),
            OpenApiParameter("dist", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("limit", OpenApiTypes.INT, description="nearest N only"),
        ],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> HttpResponse:
        query = validated_query_params(request, self.InputSerializer)
        near = {
            "lat": query["lat"],
            "lng": query["lng"],
            "dist": query["dist"],
            "unit": query["unit"],
            "limit": query.get("limit"),
        }
        return conditional_json(
            request, variant=f"near={sorted(near.items())!r}", search=search_near(**near)
        )
