from django.db.models import F, QuerySet

from parking_spots.geo import BBox, Circle, Unit
from parking_spots.models import ParkingSpot
from reservations.selectors import spot_is_held_now


def parking_spot_list_available() -> QuerySet[ParkingSpot]:
    """The single definition of "available" that both spot routes share.

    It stays a plain filter on the spot table so that every other query (the radius search,
    the reservations' exclusion of held spots) composes with it in one SQL statement.
    """
    return ParkingSpot.objects.filter(~spot_is_held_now(), active=True)


def parking_spot_list_available_near(
    *, lat: float, lng: float, dist: float, unit: Unit, limit: int | None = None
) -> QuerySet[ParkingSpot]:
    """Available spots within `dist` great-circle distance, nearest first, with `distance`."""
    circle = Circle.around(lat=lat, lng=lng, dist=dist, unit=unit)
    spots = (
        parking_spot_list_available()
        .filter(circle.in_boxes())
        .alias(angle=circle.central_angle())
        .filter(angle__lte=circle.angle)
        .annotate(distance=F("angle") * unit.earth_radius)
        .order_by("distance", "id")
    )
    return spots[:limit] if limit is not None else spots


def parking_spot_list_available_in(*, bbox: BBox) -> QuerySet[ParkingSpot]:
    """Available spots in a map viewport, in id order (a stable body for one version)."""
    return parking_spot_list_available().filter(bbox.in_box()).order_by("id")
