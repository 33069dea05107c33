from collections.abc import Callable

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.views import APIView

from availability.areas import (
    COLUMNAR,
    OBJECTS,
    SpotListInputSerializer,
    SpotNearInputSerializer,
    near_query_plain,
)
from availability.http import conditional_json
from availability.selectors import (
    COLUMNAR_SUFFIX,
    parking_spot_list_available,
    parking_spot_list_available_in,
    parking_spot_list_available_near,
)
from availability.spot_json import (
    SpotDistanceOutputSerializer,
    SpotOutputSerializer,
    spots_columnar,
    spots_in,
    spots_json,
    spots_near_json,
    spots_snapshot_columnar_json,
    spots_snapshot_json,
)
from availability.throttles import SpotRateThrottle, SpotWindowRateThrottle
from availability.types import CoveredSearch
from availability.windows import window_from_query, window_json
from parking_spots.geo import UNIT_ALIASES, BBox, Unit, bbox_covering
from secure_my_spot.api import JSONOnlyNegotiation, validated_query_params


def search_in(*, bbox: BBox, columnar: bool = False) -> CoveredSearch:
    """A viewport, answered from the grid-aligned viewport around it."""
    key, cover = bbox_covering(bbox, grid=settings.AVAILABILITY_SEARCH_GRID_DEGREES)
    return CoveredSearch(
        key=key,
        cover=lambda: spots_json(parking_spot_list_available_in(bbox=cover)),
        trim=lambda body: _shaped(spots_in(body, bbox=bbox), columnar=columnar),
    )


def _shaped(body: bytes | str, *, columnar: bool, with_distance: bool = False) -> bytes | str:
    return spots_columnar(body, with_distance=with_distance) if columnar else body


def search_near(
    *, lat: float, lng: float, dist: float, unit: Unit, limit: int | None, columnar: bool = False
) -> Callable[[], bytes]:
    """A radius search: its exact answer, straight from one prepared statement."""
    return lambda: _shaped(
        spots_near_json(lat=lat, lng=lng, dist=dist, unit=unit, limit=limit),
        columnar=columnar,
        with_distance=True,
    )


WINDOW_QUERY = [
    OpenApiParameter(
        "start_time",
        OpenApiTypes.DATETIME,
        description="With end_time or reservation_length: spots free for that whole window "
        "instead of now (ISO 8601 with an offset or Z; at most RESERVATION_MAX_DAYS_AHEAD "
        "days ahead). Window answers are not cached (Cache-Control: private, no-store) and "
        "have a throttle of their own.",
    ),
    OpenApiParameter("end_time", OpenApiTypes.DATETIME, description="the window's end"),
    OpenApiParameter(
        "reservation_length",
        OpenApiTypes.INT,
        description="or the window's length in minutes (from start_time, else from now)",
    ),
]


FORMAT_QUERY = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=[OBJECTS, COLUMNAR],
    description="`columnar`: the same spots and values by column, compact for map clients: "
    '`{"id": [1, 2], "lat": ["40.758000", "40.679290"], ...}`, every field of a spot (the '
    "filter route adds `distance`), the n-th spot at index n of each array, in the order "
    "of the default answer. Default `json`: the array of spot objects. Answers are "
    "compressed (brotli, else gzip) when Accept-Encoding allows, with an ETag per encoding.",
)


class AvailableParkingSpotListApi(APIView):
    """Every available spot, or those in a viewport; conditional (ETag) for pollers.

    With a window (`start_time` and `end_time` or `reservation_length`): the spots free for
    all of it, fresh, without ETag.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes = [SpotRateThrottle, SpotWindowRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "bbox", OpenApiTypes.STR, description="viewport: south,west,north,east"
            ),
            *WINDOW_QUERY,
            FORMAT_QUERY,
        ],
        responses={200: SpotOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> HttpResponse:
        query = validated_query_params(request, SpotListInputSerializer)
        columnar = query["format"] == COLUMNAR
        window = window_from_query(request)
        if window is not None:
            if "bbox" in query:
                spots = parking_spot_list_available_in(bbox=query["bbox"], window=window)
            else:
                spots = parking_spot_list_available(window=window).order_by("id")
            return window_json(request, _shaped(spots_json(spots), columnar=columnar))
        if "bbox" not in query:
            if columnar:
                return conditional_json(
                    request, shape=COLUMNAR_SUFFIX, build=spots_snapshot_columnar_json
                )
            return conditional_json(request, build=spots_snapshot_json)
        bbox = query["bbox"]
        # Built only after the version is read, so the answer is never older than it.
        return conditional_json(
            request,
            variant=f"bbox={bbox!r}" + (",format=columnar" if columnar else ""),
            search=search_in(bbox=bbox, columnar=columnar),
        )


class AvailableParkingSpotFilterApi(APIView):
    """Available spots within `dist` of a point, nearest first; maps poll this.

    With a window (`start_time` and `end_time` or `reservation_length`): the spots free for
    all of it, fresh, without ETag.
    """

    permission_classes = [AllowAny]
    authentication_classes: list = []
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes = [SpotRateThrottle, SpotWindowRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("long", OpenApiTypes.DOUBLE, required=True, description="or lng"),
            OpenApiParameter("unit", OpenApiTypes.STR, required=True, enum=list(UNIT_ALIASES)),
            OpenApiParameter("dist", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("limit", OpenApiTypes.INT, description="nearest N only"),
            *WINDOW_QUERY,
            FORMAT_QUERY,
        ],
        responses={200: SpotDistanceOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> HttpResponse:
        query = near_query_plain(request.META.get("QUERY_STRING", ""))
        if query is None:
            query = validated_query_params(request, SpotNearInputSerializer)
        columnar = query["format"] == COLUMNAR
        near = {
            "lat": query["lat"],
            "lng": query["lng"],
            "dist": query["dist"],
            "unit": query["unit"],
            "limit": query.get("limit"),
        }
        window = window_from_query(request)
        if window is not None:
            spots = parking_spot_list_available_near(**near, window=window)
            body = _shaped(
                spots_json(spots, with_distance=True), columnar=columnar, with_distance=True
            )
            return window_json(request, body)
        variant = f"near={sorted(near.items())!r}" + (",format=columnar" if columnar else "")
        return conditional_json(
            request, variant=variant, answer=search_near(**near, columnar=columnar)
        )
