from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("reservations", "0007_charges_move_to_payments")]

    operations = [
        # The per-address cap on reservations booked ahead (reservations.services).
        migrations.AddIndex(
            model_name="reservation",
            index=models.Index(
                condition=models.Q(("status__in", ("pending_payment", "active"))),
                fields=["client_address", "start_time"],
                name="reservation_ahead_by_address",
            ),
        ),
    ]
