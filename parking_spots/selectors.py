from datetime import date

from django.db.models import Count

from parking_spots.models import (
    ELSEWHERE_FIRST_HOUR_CENTS,
    ELSEWHERE_LATER_HOUR_CENTS,
    Holiday,
    ParkingSpot,
    RateZone,
)
from parking_spots.zones import ELSEWHERE


def holidays_between(*, start: date, end: date) -> frozenset[date]:
    """The days from `start` to `end`, both included, on which the meters are suspended."""
    return frozenset(
        Holiday.objects.filter(date__range=(start, end), meters_suspended=True).values_list(
            "date", flat=True
        )
    )


# What prices an unzoned spot when the table has no "elsewhere" row (a database emptied by
# hand, or a test that flushed the seeded rows), so a booking never fails for want of a rate.
ELSEWHERE_FALLBACK = RateZone(
    code=ELSEWHERE,
    name="All other metered locations",
    first_hour_cents=ELSEWHERE_FIRST_HOUR_CENTS,
    later_hour_cents=ELSEWHERE_LATER_HOUR_CENTS,
)


def zone_rates_for(*, spot: ParkingSpot) -> RateZone:
    """The zone whose rates price `spot`: "elsewhere", the lowest, for a spot not yet zoned
    (ELSEWHERE_FALLBACK when that row is missing).

    Read fresh, never from a zone cached on the spot, since operators change rates.
    """
    if spot.zone_id is None:
        return RateZone.objects.filter(code=ELSEWHERE).first() or ELSEWHERE_FALLBACK
    return RateZone.objects.get(pk=spot.zone_id)


def zone_spot_counts() -> dict[str | None, int]:
    """How many spots each zone holds, by code in the zones' order; None: spots not zoned."""
    counts = {
        zone.code: zone.spot_count for zone in RateZone.objects.annotate(spot_count=Count("spots"))
    }
    counts[None] = ParkingSpot.objects.filter(zone__isnull=True).count()
    return counts
