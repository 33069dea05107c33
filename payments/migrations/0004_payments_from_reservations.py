"""Each reservation's charge, so far kept on the reservation, becomes its Payment row."""

from django.db import migrations
from django.db.models import Q

STATES = {"paid": "succeeded", "payment_failed": "failed"}


def forward(apps, schema_editor) -> None:
    Reservation = apps.get_model("reservations", "Reservation")
    Payment = apps.get_model("payments", "Payment")
    charged = Reservation.objects.filter(
        ~Q(stripe_payment_intent_id="") | Q(charge_attempts__gt=0)
    ).iterator(chunk_size=1000)
    Payment.objects.bulk_create(
        (
            Payment(
                reservation_id=reservation.pk,
                attempt=max(reservation.charge_attempts, 1),
                amount_cents=reservation.amount_cents or 0,
                currency="usd",
                state=STATES.get(reservation.status, "pending"),
                stripe_payment_method_id=reservation.stripe_payment_method_id,
                stripe_payment_intent_id=reservation.stripe_payment_intent_id,
                error_code=reservation.payment_error_code,
            )
            for reservation in charged
        ),
        batch_size=1000,
    )


def backward(apps, schema_editor) -> None:
    Reservation = apps.get_model("reservations", "Reservation")
    Payment = apps.get_model("payments", "Payment")
    for payment in Payment.objects.order_by("reservation_id", "attempt").iterator():
        Reservation.objects.filter(pk=payment.reservation_id).update(
            stripe_payment_intent_id=payment.stripe_payment_intent_id,
            charge_attempts=payment.attempt,
            payment_error_code=payment.error_code,
        )


class Migration(migrations.Migration):
    dependencies = [("payments", "0003_payment")]

    operations = [migrations.RunPython(forward, backward)]
