"""The charges kept on reservations become Payment rows, on a populated database."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from payments.models import Payment, PaymentState
from testing.factories import ParkingSpotFactory

BEFORE_PAYMENTS = [
    ("reservations", "0006_emails_through_the_outbox"),
    ("payments", "0002_stripewebhookevent_outcome"),
]


@pytest.mark.django_db(transaction=True)
def test_every_charge_on_a_reservation_becomes_its_payment():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_PAYMENTS)
    try:
        old = executor.loader.project_state(BEFORE_PAYMENTS).apps.get_model(
            "reservations", "Reservation"
        )
        spots = ParkingSpotFactory.create_batch(4)
        cases = {
            "paid": ("pi_paid", 1, ""),
            "payment_failed": ("pi_declined", 1, "card_declined"),
            "ended": ("pi_processing", 1, ""),
            "active": ("", 0, ""),
        }
        rows = {
            status: old.objects.create(
                email=f"{status}@example.com",
                spot_id=spots[n].pk,
                rate="4.50",
                start_time="2026-01-01T10:00:00Z",
                end_time="2026-01-01T11:00:00Z",
                status=status,
                ended_at=None if status == "active" else "2026-01-01T11:00:00Z",
                amount_cents=None if status == "active" else 450,
                stripe_payment_method_id="pm_card",
                stripe_payment_intent_id=payment_intent,
                charge_attempts=attempts,
                payment_error_code=code,
            )
            for n, (status, (payment_intent, attempts, code)) in enumerate(cases.items())
        }
    finally:
        # Forward again even when the above fails: later tests need the current schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    migrated = {
        payment.reservation_id: (
            payment.attempt,
            payment.state,
            payment.amount_cents,
            payment.stripe_payment_intent_id,
            payment.stripe_payment_method_id,
            payment.error_code,
        )
        for payment in Payment.objects.all()
    }
    assert migrated == {
        rows["paid"].pk: (1, PaymentState.SUCCEEDED, 450, "pi_paid", "pm_card", ""),
        rows["payment_failed"].pk: (
            1,
            PaymentState.FAILED,
            450,
            "pi_declined",
            "pm_card",
            "card_declined",
        ),
        rows["ended"].pk: (1, PaymentState.PENDING, 450, "pi_processing", "pm_card", ""),
    }
