"""The rule "a reservation holds its spot at time t" is written twice, to mean one thing.

The rule is reservations.selectors.reservation_holding_q (spot_is_held_now builds on it).
The availability triggers run in PostgreSQL, where Python cannot go, so migration 0001 keeps
a frozen copy: availability_hold_range, and availability_next_change with its status list.
Changing the rule in Python alone fails here; the cure is a migration that replaces the SQL.

The table: every status x hold expiry (none, before, at, inside, at the end of, after the
window) x time (either side of and on every boundary), against the real database.
"""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, F

from parking_spots.models import ParkingSpot
from reservations.models import Reservation, ReservationStatus
from reservations.selectors import reservation_holding_q, spot_is_held_now
from testing.factories import ParkingSpotFactory, ReservationFactory

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
HOLDS = {
    "none": None,
    "ran out before the window": START - timedelta(minutes=1),
    "runs out as it starts": START,
    "runs out inside": START + timedelta(minutes=30),
    "runs out as it ends": END,
    "runs out after": END + timedelta(minutes=30),
}
EPSILON = timedelta(microseconds=1)  # timestamptz's resolution, and datetime's
BOUNDARIES = sorted({START, END, *(hold for hold in HOLDS.values() if hold is not None)})
TIMES = [
    START - timedelta(hours=1),
    *(moment + step for moment in BOUNDARIES for step in (-EPSILON, timedelta(0), EPSILON)),
    END + timedelta(hours=1),
]
CASES = [
    (status, hold)
    for status, hold in itertools.product(ReservationStatus.values, HOLDS)
    # The database refuses a payment hold without an expiry (reservation_pending_has_hold).
    if not (status == ReservationStatus.PENDING_PAYMENT and HOLDS[hold] is None)
]

SQL_HOLDS = """
SELECT r.id, m.i, availability_hold_range(r.status, r.start_time, r.end_time, r.hold_expires_at)
    @> m.t
FROM reservations_reservation r CROSS JOIN unnest(%s::timestamptz[]) WITH ORDINALITY m(t, i)
"""
SQL_NEXT_CHANGE = """
SELECT m.i, availability_next_change(m.t)
FROM unnest(%s::timestamptz[]) WITH ORDINALITY m(t, i)
"""


def reservation_create(status: str, hold: str) -> Reservation:
    """A reservation for [START, END) on a spot of its own (no two may overlap on one)."""
    return ReservationFactory(
        spot=ParkingSpotFactory(),
        status=status,
        start_time=START,
        end_time=END,
        hold_expires_at=HOLDS[hold],
    )


def python_holds() -> dict[tuple[int, int], bool]:
    """(reservation id, time index) -> reservation_holding_q's answer."""
    moments = {
        f"t{i}": ExpressionWrapper(reservation_holding_q(now=t), output_field=BooleanField())
        for i, t in enumerate(TIMES)
    }
    rows = Reservation.objects.values("pk", **moments)
    return {(row["pk"], i): row[f"t{i}"] for row in rows for i in range(len(TIMES))}


def spots_held() -> dict[tuple[int, int], bool]:
    """(reservation id, time index) -> spot_is_held_now's answer for its spot."""
    moments = {f"t{i}": spot_is_held_now(now=t) for i, t in enumerate(TIMES)}
    rows = ParkingSpot.objects.values(reservation=F("reservations__pk"), **moments)
    return {(row["reservation"], i): row[f"t{i}"] for row in rows for i in range(len(TIMES))}


def sql_holds() -> dict[tuple[int, int], bool]:
    """(reservation id, time index) -> availability_hold_range's answer, as the trigger asks."""
    with connection.cursor() as cursor:
        cursor.execute(SQL_HOLDS, [TIMES])
        return {(pk, i - 1): held for pk, i, held in cursor.fetchall()}  # ordinality from 1


def test_sql_and_python_agree_on_every_case():
    reservations = {reservation_create(*case).pk: case for case in CASES}

    in_python, by_spot, in_sql = python_holds(), spots_held(), sql_holds()

    assert len(in_sql) == len(CASES) * len(TIMES)
    assert in_python.keys() == in_sql.keys() == by_spot.keys()
    disagreements = [
        (*reservations[pk], TIMES[i].isoformat(), in_python[pk, i], in_sql[pk, i])
        for pk, i in sorted(in_sql)
        if not in_python[pk, i] == by_spot[pk, i] == in_sql[pk, i]
    ]
    assert disagreements == []
    # Not vacuous: both answers occur, for the holding statuses only.
    held = {reservations[pk][0] for (pk, _), holds in in_sql.items() if holds}
    assert held == {ReservationStatus.ACTIVE, ReservationStatus.PENDING_PAYMENT}
    assert sum(in_sql.values()) < len(in_sql)


@pytest.mark.parametrize(("status", "hold"), CASES)
def test_the_databases_next_moment_is_when_pythons_answer_flips(status, hold):
    """availability_next_change (what the publisher and the version wake for) names the
    first moment after t at which reservation_holding_q's answer differs, or none."""
    reservation = reservation_create(status, hold)  # alone: the function looks at every row
    holds = python_holds()
    with connection.cursor() as cursor:
        cursor.execute(SQL_NEXT_CHANGE, [TIMES])
        next_change = {i - 1: moment for i, moment in cursor.fetchall()}

    for i, t in enumerate(TIMES):
        moment = next_change[i]
        later = [j for j, s in enumerate(TIMES) if t < s and (moment is None or s < moment)]
        assert all(holds[reservation.pk, j] == holds[reservation.pk, i] for j in later), t
        if moment is not None:
            assert moment > t
            assert holds[reservation.pk, TIMES.index(moment)] != holds[reservation.pk, i], t
