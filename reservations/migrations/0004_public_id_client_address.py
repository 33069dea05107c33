"""Unguessable public ids for every reservation, existing ones included, and the booking
client's address.

The column is added empty, filled in batches, then made unique and required, in one
transaction. The availability trigger on reservations is deferred to commit, and PostgreSQL
refuses to ALTER a table with trigger events pending, so the fill runs them at once.
"""

from django.db import migrations, models

import reservations.models

BATCH = 2000


def fill_public_ids(apps, schema_editor):
    Reservation = apps.get_model("reservations", "Reservation")
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    while True:
        batch = list(Reservation.objects.filter(public_id__isnull=True).only("pk")[:BATCH])
        if not batch:
            break
        for reservation in batch:
            reservation.public_id = reservations.models.new_public_id()
        Reservation.objects.bulk_update(batch, ["public_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0003_unmailed_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="reservation",
            name="public_id",
            field=models.CharField("public id", max_length=32, null=True, editable=False),
        ),
        migrations.RunPython(fill_public_ids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="reservation",
            name="public_id",
            field=models.CharField(
                "public id",
                default=reservations.models.new_public_id,
                editable=False,
                help_text="The id every public route and answer uses; the integer key stays "
                "internal, so no reservation can be found by counting.",
                max_length=32,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="reservation",
            name="client_address",
            field=models.GenericIPAddressField(
                blank=True,
                help_text="Booking client's address, for per-address hold caps",
                null=True,
            ),
        ),
    ]
