"""Seed data: NYC DOT's 2023 passenger rates by zone, the meter holidays of 2026-2030, and a
zone for every spot already imported.

The rates are written here as they stood when the migration was made: operators own them
from then on (the admin), and a rerun never overwrites them. The holiday calendar and the
zone rule are the project's pure functions, so a later fix to either reaches new data through
the admin or `assign_zones`, not by rewriting history here.
"""

from collections import defaultdict

from django.db import migrations

from parking_spots.holidays import nyc_meter_holidays
from parking_spots.zones import zone_code_for

RATE_ZONES = [
    (
        "midtown-core",
        "Midtown core and Lower Manhattan (DOT zone M1)",
        550,
        900,
        "Manhattan from 34th to 59th Street between 9th and 1st Avenues, and Lower Manhattan "
        "south of Chambers Street and the Brooklyn Bridge.",
    ),
    (
        "manhattan-below-96",
        "Manhattan below 96th Street (M2)",
        500,
        825,
        "The rest of Manhattan south of 96th Street.",
    ),
    (
        "manhattan-96-110",
        "Manhattan 96th to 110th Street (M3)",
        300,
        500,
        "Manhattan from 96th to 110th Street, both included.",
    ),
    (
        "business-district",
        "Business districts (Zone 1)",
        250,
        500,
        "Manhattan's 125th Street; Downtown Brooklyn, Downtown Flushing, Jamaica, Long Island "
        "City, Fordham Road, The Hub and St. George (approximate boxes).",
    ),
    (
        "retail",
        "Neighborhood retail districts (Zone 2)",
        200,
        300,
        "Never the rule's answer (the export cannot tell a retail corridor): operators pin "
        "spots here in the admin.",
    ),
    (
        "elsewhere",
        "All other metered locations (Zone 3)",
        150,
        250,
        "Every other meter, upper Manhattan above 110th Street included (but 125th Street); "
        "also the rates of a spot not yet zoned.",
    ),
]
HOLIDAY_YEARS = range(2026, 2031)
BATCH = 1000


def seed_rate_zones(apps, schema_editor) -> None:
    RateZone = apps.get_model("parking_spots", "RateZone")
    for code, name, first_hour_cents, later_hour_cents, description in RATE_ZONES:
        RateZone.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "first_hour_cents": first_hour_cents,
                "later_hour_cents": later_hour_cents,
                "description": description,
            },
        )


def seed_holidays(apps, schema_editor) -> None:
    Holiday = apps.get_model("parking_spots", "Holiday")
    for year in HOLIDAY_YEARS:
        for day, name in nyc_meter_holidays(year):
            Holiday.objects.get_or_create(date=day, defaults={"name": name})


def assign_zones(apps, schema_editor) -> None:
    """Only `zone` is written: the spots' public JSON (and its `updated_at`) stays as it was."""
    ParkingSpot = apps.get_model("parking_spots", "ParkingSpot")
    RateZone = apps.get_model("parking_spots", "RateZone")
    zone_ids = dict(RateZone.objects.values_list("code", "pk"))
    spots_by_zone = defaultdict(list)
    unzoned = ParkingSpot.objects.filter(zone__isnull=True).values_list(
        "pk", "lat", "lng", "street"
    )
    for pk, lat, lng, street in unzoned.iterator(chunk_size=BATCH):
        spots_by_zone[zone_ids[zone_code_for(lat=lat, lng=lng, street=street)]].append(pk)
    for zone_id, pks in spots_by_zone.items():
        for start in range(0, len(pks), BATCH):
            ParkingSpot.objects.filter(pk__in=pks[start : start + BATCH]).update(zone_id=zone_id)


class Migration(migrations.Migration):
    dependencies = [("parking_spots", "0003_rate_zones_holidays")]

    operations = [
        migrations.RunPython(seed_rate_zones, migrations.RunPython.noop),
        migrations.RunPython(seed_holidays, migrations.RunPython.noop),
        migrations.RunPython(assign_zones, migrations.RunPython.noop),
    ]
