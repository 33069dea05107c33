"""The area a client asks about, a viewport or a circle, as query parameters.

The REST routes and the push subscriptions validate with these same serializers, so both
channels speak one language.
"""

import math
import re
from collections.abc import Mapping

from rest_framework import serializers
from rest_framework.fields import empty

from parking_spots.geo import UNIT_ALIASES, BBox

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


class ViewportInputSerializer(serializers.Serializer):
    bbox = BBoxField(required=False)


class NearInputSerializer(serializers.Serializer):
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


# `format` of the spot routes: the contract's array of objects, or the compact columnar shape.
OBJECTS = "json"
COLUMNAR = "columnar"


class FormatInputSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=[OBJECTS, COLUMNAR], default=OBJECTS)


# The routes' query strings, validated in one pass (push subscriptions take no `format`).
class SpotListInputSerializer(ViewportInputSerializer, FormatInputSerializer):
    pass


class SpotNearInputSerializer(NearInputSerializer, FormatInputSerializer):
    pass


# A plain decimal, as maps write coordinates: float() of it is DRF's FloatField value.
PLAIN_NUMBER = re.compile(r"-?\d{1,12}(?:\.\d{1,17})?")
PLAIN_LIMIT = re.compile(r"[1-9]\d{0,4}")
PLAIN_NEAR_NAMES = frozenset({"lat", "long", "lng", "unit", "dist", "limit", "format"})


def near_query_plain(query_string: str) -> dict | None:
    """SpotNearInputSerializer's validated data for the usual, well-formed radius query
    (each parameter once, plain decimals, a unit spelled as listed), found without DRF:
    validating a new centre cost more than answering it. None for anything else, which
    the serializer then validates (and words any error for)."""
    params: dict[str, str] = {}
    for pair in query_string.split("&"):
        name, equals, value = pair.partition("=")
        if not equals or name in params or name not in PLAIN_NEAR_NAMES:
            return None
        params[name] = value
    if ("long" in params) == ("lng" in params):
        return None
    lng, lat, dist = params.get("long", params.get("lng")), params.get("lat"), params.get("dist")
    unit = UNIT_ALIASES.get(params.get("unit"))
    if unit is None or not all(
        value is not None and PLAIN_NUMBER.fullmatch(value) for value in (lat, lng, dist)
    ):
        return None
    near = {"lat": float(lat), "lng": float(lng), "unit": unit, "dist": float(dist)}
    if not (
        -90 <= near["lat"] <= 90
        and -180 <= near["lng"] <= 180
        and 0 < unit.to_km(near["dist"]) <= MAX_SEARCH_KM
    ):
        return None
    if "limit" in params:
        if not PLAIN_LIMIT.fullmatch(params["limit"]) or int(params["limit"]) > MAX_LIMIT:
            return None
        near["limit"] = int(params["limit"])
    near["format"] = params.get("format", OBJECTS)
    return near if near["format"] in (OBJECTS, COLUMNAR) else None
