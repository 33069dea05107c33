"""A spot's `rate` (the contract's hourly rate in the spot JSON) is its zone's first-hour rate.

The importer's rate table by borough gave way to the zones of issue 16, which price every
quote and bill; the spot JSON now shows what a stay's first hour costs. The column stays, so
the polled searches read one row as before, and PostgreSQL keeps it right whoever writes:
- a spot's insert, a change of its zone, or a write of its rate takes the zone's first-hour
  rate ("elsewhere" for a spot not zoned; a spot's own value only when the table holds no
  such row, as after a test flushed the seeded zones);
- an operator's change of a zone's first-hour rate reaches that zone's spots (and the unzoned
  ones, for "elsewhere") at once, with their `updated_at`.
Each is a spot update, so availability's spot triggers bump the version and the maps reload.
"""

import django.core.validators
from decimal import Decimal
from django.db import migrations, models


RATE_FROM_ZONE = """
CREATE FUNCTION parking_spot_zone_rate(zone bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT first_hour_cents / 100.0 FROM parking_spots_ratezone
    WHERE CASE WHEN zone IS NULL THEN code = 'elsewhere' ELSE id = zone END
$$;

CREATE FUNCTION parking_spot_rate_from_zone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.rate := coalesce(parking_spot_zone_rate(NEW.zone_id), NEW.rate);
    RETURN NEW;
END
$$;

CREATE TRIGGER parking_spot_rate_from_zone
    BEFORE INSERT OR UPDATE OF zone_id, rate ON parking_spots_parkingspot
    FOR EACH ROW EXECUTE FUNCTION parking_spot_rate_from_zone();

CREATE FUNCTION parking_spot_zone_rate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE parking_spots_parkingspot SET rate = NEW.first_hour_cents / 100.0,
        updated_at = clock_timestamp()
    WHERE (zone_id = NEW.id OR (zone_id IS NULL AND NEW.code = 'elsewhere'))
        AND rate <> NEW.first_hour_cents / 100.0;
    RETURN NULL;
END
$$;

CREATE TRIGGER parking_spot_zone_rate_changed
    AFTER INSERT OR UPDATE OF first_hour_cents, code ON parking_spots_ratezone
    FOR EACH ROW EXECUTE FUNCTION parking_spot_zone_rate_changed();

UPDATE parking_spots_parkingspot SET rate = parking_spot_zone_rate(zone_id)
WHERE rate <> parking_spot_zone_rate(zone_id);
"""

DROP = """
DROP TRIGGER parking_spot_zone_rate_changed ON parking_spots_ratezone;
DROP FUNCTION parking_spot_zone_rate_changed();
DROP TRIGGER parking_spot_rate_from_zone ON parking_spots_parkingspot;
DROP FUNCTION parking_spot_rate_from_zone();
DROP FUNCTION parking_spot_zone_rate(bigint);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("parking_spots", "0004_seed_zones_holidays_assign"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="ratezone",
            name="rate_zone_rates_positive",
        ),
        migrations.AlterField(
            model_name="parkingspot",
            name="rate",
            field=models.DecimalField(
                decimal_places=2,
                db_default=Decimal("1.5"),
                editable=False,
                help_text="The contract's `rate`: its zone's first-hour rate (\"elsewhere\" when not zoned), kept so by the database (migration 0005), whoever writes the spot or the zone.",
                max_digits=6,
                verbose_name="hourly rate (USD)",
            ),
        ),
        migrations.AlterField(
            model_name="ratezone",
            name="first_hour_cents",
            field=models.PositiveIntegerField(
                help_text="Cents for the first metered hour, shown as the zone's spots' `rate`. A change prices new quotes and bookings only: a reservation keeps the rates copied onto it when it was made, so no bill already made changes.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(99999),
                ],
            ),
        ),
        migrations.AddConstraint(
            model_name="ratezone",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("first_hour_cents__gt", 0),
                    ("first_hour_cents__lt", 100000),
                    ("later_hour_cents__gt", 0),
                ),
                name="rate_zone_rates_in_range",
            ),
        ),
        migrations.RunSQL(RATE_FROM_ZONE, DROP),
    ]
