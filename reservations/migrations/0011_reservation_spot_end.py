"""Enforcement's meter lookup: a spot's stays by end. The new index leads with the spot, so
it replaces the foreign key's own index, dropped only once the new one exists."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("parking_spots", "0005_spot_rate_from_zone"),
        ("reservations", "0010_reservation_plate"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="reservation",
            index=models.Index(fields=["spot", "-end_time"], name="reservation_spot_end"),
        ),
        migrations.AlterField(
            model_name="reservation",
            name="spot",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reservations",
                to="parking_spots.parkingspot",
            ),
        ),
    ]
