from datetime import date

from django.db.models import Count

from parking_spots.models import Holiday, ParkingSpot, RateZone
from parking_spots.zones import ELSEWHERE


def holidays_between(*, start: date, end: date) -> frozenset[date]:
    """The days from `start` to `end`, both included, on which the meters are suspended."""
    return frozenset(
        Holiday.objects.filter(date__range=(start, end), meters_suspended=True).values_list(
            "date", flat=True
        )
    )


def zone_rates_for(*, spot: ParkingSpot) -> RateZone:
    """The zone whose rates price `spot`: "elsewhere", the lowest, for a spot not yet zoned.

    Read fresh, never from a zone cached on the spot, since operators change rates.
    """
    if spot.zone_id is None:
        return RateZone.objects.get(code=ELSEWHERE)
    return RateZone.objects.get(pk=spot.zone_id)


def zone_spot_counts() -> dict[str | None, int]:
    """How many spots each zone holds, by code in the zones' order; None: spots not zoned."""
    counts = {
        zone.code: zone.spot_count for zone in RateZone.objects.annotate(spot_count=Count("spots"))
    }
    counts[None] = ParkingSpot.objects.filter(zone__isnull=True).count()
    return counts
