"""What a push client watches: a viewport or a circle, mapped onto coarse grid-cell groups.

The publisher sends each delta to the group of the cell its spot lies in; a push process joins
the groups of every cell its subscribers' areas touch (availability.fanout), and each
subscriber drops the deltas outside its area itself. A delta thus costs Redis one message per
interested cell and push process, not one per connected client.
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rest_framework import serializers

from availability.areas import NearInputSerializer, ViewportInputSerializer
from availability.selectors import parking_spot_list_available_in, parking_spot_list_available_near
from availability.spot_json import spots_json
from parking_spots.geo import BBox, Circle

CELL_DEGREES = 0.1  # about 11 km north to south
MAX_CELLS = 400  # a 2-by-2-degree viewport: far more than a map screen of parking spots


def cell_group(lat: float, lng: float) -> str:
    return f"availability.{math.floor(lat / CELL_DEGREES)}.{math.floor(lng / CELL_DEGREES)}"


def _cell_groups(boxes: list[tuple[float, float, float, float]]) -> list[str]:
    groups: set[str] = set()
    for west, south, east, north in boxes:
        rows = range(math.floor(south / CELL_DEGREES), math.floor(north / CELL_DEGREES) + 1)
        columns = range(math.floor(west / CELL_DEGREES), math.floor(east / CELL_DEGREES) + 1)
        if len(rows) * len(columns) > MAX_CELLS:
            raise serializers.ValidationError(
                {
                    "area": [
                        f"Too large for live updates: at most {MAX_CELLS} cells of "
                        f"{CELL_DEGREES} degrees."
                    ]
                }
            )
        groups.update(f"availability.{row}.{column}" for row in rows for column in columns)
    return sorted(groups)


@dataclass(frozen=True)
class Subscription:
    area: BBox | Circle
    groups: list[str]
    snapshot_json: Callable[[], str]  # the area's available spots, as the REST routes write them

    def covers(self, lat: float, lng: float) -> bool:
        return self.area.contains(lat, lng)


def subscription_parse(params: Mapping[str, object]) -> Subscription:
    """`bbox=south,west,north,east`, or the filter route's lat, lng (long), dist, unit.

    Validated as the REST routes validate them (availability.areas): one language for both.
    """
    if "bbox" in params:
        serializer = ViewportInputSerializer(data=params)
        serializer.is_valid(raise_exception=True)
        bbox = serializer.validated_data["bbox"]
        spots = parking_spot_list_available_in(bbox=bbox)
        return Subscription(
            area=bbox,
            groups=_cell_groups([(bbox.west, bbox.south, bbox.east, bbox.north)]),
            snapshot_json=lambda: spots_json(spots),
        )
    serializer = NearInputSerializer(data=params)
    serializer.is_valid(raise_exception=True)
    query = serializer.validated_data
    near = {name: query[name] for name in ("lat", "lng", "dist", "unit")}
    circle = Circle.around(**near)
    spots = parking_spot_list_available_near(**near, limit=query.get("limit"))
    return Subscription(
        area=circle,
        groups=_cell_groups(circle.boxes()),
        snapshot_json=lambda: spots_json(spots, with_distance=True),
    )
