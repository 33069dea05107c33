"""Races decided by PostgreSQL: every thread has its own connection and really commits."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_create
from secure_my_spot.exceptions import ConflictError
from testing.factories import ParkingSpotFactory, ReservationFactory
from tests.threads import race, run_in_thread

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 20
ROUNDS = 20


def test_exactly_one_of_twenty_simultaneous_bookings_wins():
    for round_number in range(ROUNDS):
        spot = ParkingSpotFactory()

        def book(n: int, spot_id=spot.pk) -> str:
            try:
                reservation_create(
                    spot_id=spot_id, reservation_length=30, email=f"racer{n}@example.com"
                )
            except ConflictError:
                return "conflict"
            return "won"

        outcomes = race(THREADS, book)
        assert Counter(outcomes) == {"won": 1, "conflict": THREADS - 1}, round_number
        holding = Reservation.objects.filter(spot=spot, status=ReservationStatus.PENDING_PAYMENT)
        assert holding.count() == 1


def test_a_writer_that_skips_the_lock_still_loses_cleanly_to_the_constraint():
    """The service's re-check cannot see an uncommitted overlapping row; the constraint can.

    A raw insert holds its transaction open until the booking is seen waiting on it, then
    commits: the booking must fail on the exclusion constraint and answer 409.
    """
    spot = ParkingSpotFactory()
    inserted, release = threading.Event(), threading.Event()
    booking_pid: list[int] = []
    outcome: list[str] = []

    def sneaky_insert():
        with transaction.atomic():
            ReservationFactory(spot=spot, status=ReservationStatus.ACTIVE, email="raw@example.com")
            inserted.set()
            release.wait(timeout=30)

    def book():
        connection.ensure_connection()
        booking_pid.append(connection.connection.get_backend_pid())
        inserted.wait(timeout=30)
        try:
            reservation_create(spot_id=spot.pk, reservation_length=30, email="late@example.com")
            outcome.append("won")
        except ConflictError:
            outcome.append("conflict")

    writer = run_in_thread(sneaky_insert)
    booker = run_in_thread(book)
    deadline = time.monotonic() + 20
    waiting = False
    while time.monotonic() < deadline and not waiting:
        time.sleep(0.02)
        if booking_pid:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", booking_pid
                )
                row = cursor.fetchone()
            waiting = row is not None and row[0] == "Lock"
    release.set()
    writer.join(timeout=30)
    booker.join(timeout=30)

    assert waiting, "the booking never waited on the uncommitted row"
    assert outcome == ["conflict"]
    assert Reservation.objects.filter(spot=spot).count() == 1


def test_stale_hold_loses_to_a_new_booking_under_contention():
    spot = ParkingSpotFactory()
    ReservationFactory(
        spot=spot,
        status=ReservationStatus.PENDING_PAYMENT,
        start_time=timezone.now() - timedelta(minutes=30),
        minutes=120,
    )

    def book(n: int) -> str:
        try:
            reservation_create(spot_id=spot.pk, reservation_length=5, email=f"s{n}@example.com")
        except ConflictError:
            return "conflict"
        return "won"

    outcomes = race(5, book)

    assert sorted(outcomes) == ["conflict"] * 4 + ["won"]
    statuses = Counter(Reservation.objects.filter(spot=spot).values_list("status", flat=True))
    assert statuses == {"cancelled": 1, "pending_payment": 1}
