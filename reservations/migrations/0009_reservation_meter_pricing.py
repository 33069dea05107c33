"""A reservation keeps the rates and posted hours it was priced with.

Rows booked before meter pricing keep the flat rule they were booked under: first and later
hour both at their `rate`, and FLAT_METER_HOURS (metered always, no holidays), which prices
exactly as the flat rule did (reservations/pricing.py).
"""

from django.db import migrations, models
from django.db.models import F, IntegerField
from django.db.models.functions import Cast

# reservations.pricing.FLAT_METER_HOURS as it stood when this migration was made.
FLAT_METER_HOURS = "Mon-Sun 0000-2400"


def rates_from_rate(apps, schema_editor) -> None:
    Reservation = apps.get_model("reservations", "Reservation")
    cents = Cast(F("rate") * 100, IntegerField())
    Reservation.objects.update(first_hour_cents=cents, later_hour_cents=cents)


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0008_reservation_ahead_by_address"),
    ]

    operations = [
        migrations.AddField(
            model_name="reservation",
            name="first_hour_cents",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Cents for the first metered hour: the spot's zone rate at booking.",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="reservation",
            name="later_hour_cents",
            field=models.PositiveIntegerField(
                default=0,
                help_text="Cents for each later metered hour: the spot's zone rate at booking.",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="reservation",
            name="meter_hours",
            field=models.TextField(
                blank=True,
                default=FLAT_METER_HOURS,
                help_text="The spot's posted hours at booking, which price and limit this stay "
                "(reservations.pricing.FLAT_METER_HOURS: booked under the flat rate).",
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="reservation",
            name="rate",
            field=models.DecimalField(
                decimal_places=2,
                help_text="The first-hour rate at booking, in dollars (the contract's `rate`).",
                max_digits=6,
                verbose_name="hourly rate (USD)",
            ),
        ),
        migrations.RunPython(rates_from_rate, migrations.RunPython.noop),
    ]
