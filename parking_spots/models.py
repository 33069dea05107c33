from django.contrib.postgres.indexes import GistIndex
from django.db import models
from django.db.models import Q

from parking_spots.geo import SpotPoint


class ParkingSpot(models.Model):
    """One on-street space; NYC meters arrive through `import_nyc_meters`."""

    lat = models.DecimalField(max_digits=8, decimal_places=6)
    lng = models.DecimalField(max_digits=9, decimal_places=6)
    rate = models.DecimalField("hourly rate (USD)", max_digits=6, decimal_places=2)
    active = models.BooleanField(default=True)

    meter_number = models.CharField(max_length=32, null=True, blank=True, unique=True)
    borough = models.CharField(max_length=32, blank=True)
    street = models.CharField(max_length=255, blank=True)
    side_of_street = models.CharField(max_length=16, blank=True)
    from_street = models.CharField(max_length=255, blank=True)
    to_street = models.CharField(max_length=255, blank=True)
    meter_hours = models.TextField(blank=True)
    time_limit_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Longest stay the meter allows; caps a reservation."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Only active spots are ever searched by position.
            GistIndex(SpotPoint(), condition=Q(active=True), name="parking_spot_active_point"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(lat__gte=-90) & Q(lat__lte=90), name="parking_spot_lat_range"
            ),
            models.CheckConstraint(
                condition=Q(lng__gt=-180) & Q(lng__lte=180), name="parking_spot_lng_range"
            ),
            models.CheckConstraint(condition=Q(rate__gte=0), name="parking_spot_rate_non_negative"),
        ]

    def __str__(self) -> str:
        where = self.street or f"{self.lat}, {self.lng}"
        return f"Spot {self.pk} ({where})"
