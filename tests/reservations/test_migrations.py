"""Migrations that rewrite existing reservations, run against a populated database."""

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reservations.models import Reservation
from reservations.pricing import FLAT_METER_HOURS, reservation_amount_cents
from testing.factories import ParkingSpotFactory, ReservationFactory

BEFORE_PUBLIC_IDS = [("reservations", "0003_unmailed_index")]


@pytest.mark.django_db(transaction=True)
def test_existing_reservations_get_distinct_public_ids():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_PUBLIC_IDS)
    try:
        old = executor.loader.project_state(BEFORE_PUBLIC_IDS).apps.get_model(
            "reservations", "Reservation"
        )
        spots = ParkingSpotFactory.create_batch(3)
        rows = [
            old.objects.create(
                email=f"old-{n}@example.com",
                spot_id=spots[n % 3].pk,
                rate="4.50",
                start_time=f"2026-01-0{n + 1}T10:00:00Z",
                end_time=f"2026-01-0{n + 1}T11:00:00Z",
                status=status,
                hold_expires_at="2026-01-01T10:10:00Z" if status == "pending_payment" else None,
                ended_at="2026-01-01T11:00:00Z" if status == "paid" else None,
                amount_cents=450 if status == "paid" else None,
            )
            for n, status in enumerate(["paid", "active", "pending_payment", "cancelled", "paid"])
        ]
    finally:
        # Forward again even when the above fails: later tests need the current schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    migrated = Reservation.objects.filter(pk__in=[row.pk for row in rows])
    public_ids = [reservation.public_id for reservation in migrated]
    assert len(public_ids) == len(rows) == len(set(public_ids))
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", public_id) for public_id in public_ids)
    assert {reservation.client_address for reservation in migrated} == {None}
    # 0009: the flat rule they were booked under, which bills them exactly as before, New
    # Year's Day (a meter holiday) included.
    assert {(r.first_hour_cents, r.later_hour_cents, r.meter_hours) for r in migrated} == {
        (450, 450, FLAT_METER_HOURS)
    }
    paid = migrated.filter(status="paid").first()
    assert reservation_amount_cents(paid, end=paid.end_time) == paid.amount_cents == 450
    # New rows still get theirs from the model's default.
    assert Reservation.objects.create(**_copy_of(migrated.first())).public_id not in public_ids


def _copy_of(reservation: Reservation) -> dict:
    return {
        "email": reservation.email,
        "spot_id": reservation.spot_id,
        "rate": reservation.rate,
        "first_hour_cents": reservation.first_hour_cents,
        "later_hour_cents": reservation.later_hour_cents,
        "meter_hours": reservation.meter_hours,
        "start_time": reservation.start_time,
        "end_time": reservation.end_time,
        "status": "cancelled",
    }


@pytest.mark.django_db(transaction=True)
def test_going_back_before_the_outbox_mails_no_customer_again():
    """The old code mails every billed reservation without `ended_email_sent_at`: the
    reversed migration stamps them, so a rollback sends no old bill again."""
    paid = ReservationFactory(status="paid", start_time=datetime(2026, 1, 1, 10, tzinfo=UTC))
    before_outbox = [("reservations", "0005_hold_caps_idempotency_proven_email")]
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(before_outbox)
        old = executor.loader.project_state(before_outbox).apps.get_model(
            "reservations", "Reservation"
        )
        stamped = old.objects.get(pk=paid.pk)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert stamped.ended_email_sent_at is not None
    assert stamped.confirmation_sent_at is not None
