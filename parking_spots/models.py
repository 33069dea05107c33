from decimal import Decimal

from django.contrib.postgres.indexes import GistIndex
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Floor
from django.utils import timezone

from parking_spots.geo import SpotPoint

RATE_CHANGE_HELP = (
    "A change prices new quotes and bookings only: a reservation keeps the rates copied onto "
    "it when it was made, so no bill already made changes."
)
# DOT's 2023 Zone 3 ("elsewhere") rates, as migration 0004 seeds them: what prices a spot
# when the table holds no row for its zone.
ELSEWHERE_FIRST_HOUR_CENTS = 150
ELSEWHERE_LATER_HOUR_CENTS = 250
POSITION_ORDER_INDEX = "parking_spot_position_order"
# Bands of 0.01 degree of latitude (~1.1 km), west to east in each, id on a tie: the
# table's physical order (CLUSTER, services.parking_spot_order_by_position) and the
# all-spots answer's, which reads it straight off the index (no sort).
POSITION_ORDER = (Floor(F("lat") * 100), "lng", "id")


class RateZone(models.Model):
    """A meter rate zone: NYC DOT prices the first hour and every later hour by zone.

    The codes are the vocabulary of the assignment rule (parking_spots/zones.py); operators
    change the names and rates, never the set of zones.
    """

    code = models.SlugField(max_length=32, unique=True, help_text="The assignment rule's name.")
    name = models.CharField(max_length=100)
    first_hour_cents = models.PositiveIntegerField(
        # A spot shows it as dollars in a numeric(6, 2).
        validators=[MinValueValidator(1), MaxValueValidator(99_999)],
        help_text=f"Cents for the first metered hour, shown as the zone's spots' `rate`. "
        f"{RATE_CHANGE_HELP}",
    )
    later_hour_cents = models.PositiveIntegerField(
        validators=[MinValueValidator(1)],
        help_text=f"Cents for each metered hour after the first. {RATE_CHANGE_HELP}",
    )
    description = models.TextField(blank=True, help_text="Which meters the rule puts here.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_hour_cents", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_hour_cents__gt=0)
                & Q(first_hour_cents__lt=100_000)
                & Q(later_hour_cents__gt=0),
                name="rate_zone_rates_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Holiday(models.Model):
    """A day the city suspends its meters: a stay is not billed for it."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)
    meters_suspended = models.BooleanField(
        default=True, help_text="Untick to keep a listed day metered without deleting it."
    )

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.name} ({self.date.isoformat()})"


class ParkingSpot(models.Model):
    """One on-street space; NYC meters arrive through `import_nyc_meters`.

    The table has one column more than this model: `public_json_open`, the spot's public
    JSON object without its closing brace, which a trigger rewrites on every write of the
    row (migration 0007). The spot routes copy it out as it is (availability.spot_json);
    undeclared here, so no Django write or read ever carries it by mistake.
    """

    lat = models.DecimalField(max_digits=8, decimal_places=6)
    lng = models.DecimalField(max_digits=9, decimal_places=6)
    rate = models.DecimalField(
        "hourly rate (USD)",
        max_digits=6,
        decimal_places=2,
        editable=False,
        # A database default, so a new spot reads back (RETURNING) the rate the trigger set.
        db_default=Decimal(ELSEWHERE_FIRST_HOUR_CENTS) / 100,
        help_text="The contract's `rate`: its zone's first-hour rate (\"elsewhere\" when not "
        "zoned), kept so by the database (migration 0005), whoever writes the spot or the zone.",
    )
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
    zone = models.ForeignKey(
        RateZone,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="spots",
        help_text="Its rates; a spot not yet zoned is priced as 'elsewhere'.",
    )
    zone_pinned = models.BooleanField(
        default=False,
        help_text="Set by an operator: the importer and assign_zones leave the zone as it is.",
    )

    # Not auto_now: that would give each row of a bulk write its own microsecond, where an
    # import stamps all it writes with its one instant (services, _import_batch). save()
    # keeps updated_at current for every other write of a single spot.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [
            # Only active spots are ever searched by position.
            GistIndex(SpotPoint(), condition=Q(active=True), name="parking_spot_active_point"),
            models.Index(*POSITION_ORDER, name=POSITION_ORDER_INDEX),
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

    def save(self, *args, **kwargs) -> None:
        """auto_now for a saved spot (the admin's edits), as Django's: written unless
        update_fields leaves it out. Queryset updates set it themselves."""
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)
