"""Great-circle search on a GiST index of PostgreSQL's built-in `point` type.

A bounding box in degrees around the query circle goes to the index (`point <@ box`); the
exact haversine distance then filters and orders the few candidates. The box is split at the
antimeridian and widened to every longitude when the circle covers a pole. Built-in types
only: no extension to install, and nothing that breaks a dump and restore (earthdistance's
`ll_to_earth` does, under pg_restore's empty search_path).
"""

import math
from dataclasses import dataclass
from enum import Enum

from django.db import models
from django.db.models import Func, Value
from django.db.models.functions import Cast

EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)
KM_PER_MILE = 1.609344
# Widens the prefilter box so float rounding can never drop a spot on the circle's edge.
BOX_MARGIN_DEGREES = 1e-9


class Unit(Enum):
    KM = "km"
    MILE = "mil"

    @property
    def earth_radius(self) -> float:
        return EARTH_RADIUS_KM if self is Unit.KM else EARTH_RADIUS_KM / KM_PER_MILE

    def to_km(self, distance: float) -> float:
        return distance if self is Unit.KM else distance * KM_PER_MILE


UNIT_ALIASES = {
    "km": Unit.KM,
    "mil": Unit.MILE,
    "mi": Unit.MILE,
    "mile": Unit.MILE,
    "miles": Unit.MILE,
}


class GeometricField(models.Field):
    """A computed PostgreSQL geometric value (`point`, `box`); never a stored column."""

    def __init__(self, db_type: str, **kwargs) -> None:
        self.geometric_type = db_type
        super().__init__(**kwargs)

    def deconstruct(self) -> tuple:
        name, path, args, kwargs = super().deconstruct()
        return name, path, [self.geometric_type, *args], kwargs

    def db_type(self, connection) -> str:
        return self.geometric_type


class SpotPoint(Func):
    """`point(lng, lat)` of a spot: the indexed expression, which queries repeat exactly."""

    function = "point"
    output_field = GeometricField("point")

    def __init__(self) -> None:
        super().__init__(Cast("lng", models.FloatField()), Cast("lat", models.FloatField()))


def box_text(west: float, south: float, east: float, north: float) -> str:
    """The box as PostgreSQL reads a `box` (every float written exactly)."""
    return f"(({west},{south}),({east},{north}))"


def in_box(west: float, south: float, east: float, north: float) -> models.Q:
    """Index-backed: the spot lies in the box (edges included)."""
    box = Cast(Value(box_text(west, south, east, north)), GeometricField("box"))
    return models.Q(
        Func(
            SpotPoint(),
            box,
            arg_joiner=" <@ ",
            template="(%(expressions)s)",
            output_field=models.BooleanField(),
        )
    )


@dataclass(frozen=True)
class BBox:
    """A map viewport in degrees; it never crosses the antimeridian (west <= east)."""

    south: float
    west: float
    north: float
    east: float

    def contains(self, lat: float, lng: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lng <= self.east

    def in_box(self) -> models.Q:
        return in_box(self.west, self.south, self.east, self.north)


def central_angle(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine angle in radians from (lat1, lng1) to a spot at (lat2, lng2), operation for
    operation as CentralAngle computes it in SQL, so both agree to the last bit."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = (math.radians(lng2) - math.radians(lng1)) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class Circle:
    lat: float
    lng: float
    angle: float  # radius as a central angle, radians

    @classmethod
    def around(cls, *, lat: float, lng: float, dist: float, unit: "Unit") -> "Circle":
        return cls(lat=lat, lng=lng, angle=dist / unit.earth_radius)

    def boxes(self) -> list[tuple[float, float, float, float]]:
        """(lng_min, lat_min, lng_max, lat_max) boxes that together cover the circle."""
        reach = math.degrees(self.angle) + BOX_MARGIN_DEGREES
        south, north = self.lat - reach, self.lat + reach
        if south <= -90 or north >= 90:
            return [(-180.0, max(south, -90.0), 180.0, min(north, 90.0))]
        # Widest longitude offset of the circle (it touches that meridian, not at self.lat).
        sin_spread = math.sin(self.angle) / math.cos(math.radians(self.lat))
        spread = math.degrees(math.asin(sin_spread)) + BOX_MARGIN_DEGREES
        west, east = self.lng - spread, self.lng + spread
        if west < -180:
            return [(west + 360, south, 180.0, north), (-180.0, south, east, north)]
        if east > 180:
            return [(west, south, 180.0, north), (-180.0, south, east - 360, north)]
        return [(west, south, east, north)]

    def in_boxes(self) -> models.Q:
        """Index-backed prefilter: the spot lies in one of the boxes."""
        condition = models.Q()
        for box in self.boxes():
            condition |= in_box(*box)
        return condition

    def central_angle(self) -> "CentralAngle":
        return CentralAngle(self.lat, self.lng)

    def contains(self, lat: float, lng: float) -> bool:
        return central_angle(self.lat, self.lng, lat, lng) <= self.angle


class CentralAngle(Func):
    """Haversine angle (radians) from a fixed point to the spot.

    One SQL template rather than a tree of Django math functions: the query repeats it in
    WHERE and ORDER BY, and the map polls it, so compiling it must stay cheap.
    """

    output_field = models.FloatField()

    def __init__(self, lat: float, lng: float) -> None:
        super().__init__(Cast("lat", models.FloatField()), Cast("lng", models.FloatField()))
        self.lat, self.lng = lat, lng

    def as_sql(self, compiler, connection, **extra_context) -> tuple[str, list]:
        spot_lat, spot_lng = self.get_source_expressions()
        lat_sql, lat_params = compiler.compile(spot_lat)
        lng_sql, lng_params = compiler.compile(spot_lng)
        sql = (
            f"(2 * asin(least(1, sqrt(power(sin((radians({lat_sql}) - %s) / 2), 2)"
            f" + %s * cos(radians({lat_sql})) * power(sin((radians({lng_sql}) - %s) / 2), 2)))))"
        )
        here_lat = math.radians(self.lat)
        params = [*lat_params, here_lat, math.cos(here_lat), *lat_params, *lng_params]
        return sql, [*params, math.radians(self.lng)]


# Covering viewports: nearby questions share one answer (cached), trimmed to each exactly.


def _grid_below(value: float, grid: float) -> int:
    """The largest multiple of `grid` not above `value`, as its index."""
    index = math.floor(value / grid)
    return index - 1 if index * grid > value else index


def _grid_above(value: float, grid: float) -> int:
    index = math.ceil(value / grid)
    return index + 1 if index * grid < value else index


def bbox_covering(bbox: BBox, *, grid: float) -> tuple[str, BBox]:
    """`bbox` widened outward to the grid (degrees), and a key naming the widened box."""
    south, west = _grid_below(bbox.south, grid), _grid_below(bbox.west, grid)
    north, east = _grid_above(bbox.north, grid), _grid_above(bbox.east, grid)
    cover = BBox(
        south=max(-90.0, south * grid),
        west=max(-180.0, west * grid),
        north=min(90.0, north * grid),
        east=min(180.0, east * grid),
    )
    return f"bbox:{grid!r}:{south}:{west}:{north}:{east}", cover
