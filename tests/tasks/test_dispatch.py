"""The beat's claim-and-enqueue step, against the real database and broker."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbox.models import OutboundEmail
from reservations.models import Reservation
from reservations.models import ReservationStatus as S
from tasks.services import DispatchSummary, due_work_dispatch
from tasks.tasks import (
    dispatch_due_work,
    due_work_enqueue,
    reservation_send_ended,
    reservation_send_reminder,
)
from testing.factories import ReservationFactory

pytestmark = pytest.mark.django_db

FINISH = "tasks.reservation_finish"
EXPIRE = "tasks.reservation_expire_hold"
EMAIL = "tasks.email_send"


def dispatch(**kwargs) -> DispatchSummary:
    """One beat: claim (committed when the service returns), then enqueue, as the task does."""
    summary = due_work_dispatch(**kwargs)
    due_work_enqueue(summary)
    return summary


def ago(**kwargs):
    return timezone.now() - timedelta(**kwargs)


@pytest.fixture
def due_rows():
    """One row for each kind of due work, and rows that are not due."""
    now = timezone.now()
    return {
        "ran_out": ReservationFactory(start_time=ago(minutes=30), minutes=20),
        "ended_not_charged": ReservationFactory(status=S.ENDED, start_time=ago(hours=2)),
        "stale_hold": ReservationFactory(
            status=S.PENDING_PAYMENT, start_time=ago(minutes=12), hold_expires_at=ago(minutes=2)
        ),
        "ends_soon": ReservationFactory(start_time=ago(minutes=55), minutes=60),
        # Not due:
        "running": ReservationFactory(start_time=ago(minutes=1), minutes=60),
        "live_hold": ReservationFactory(status=S.PENDING_PAYMENT, start_time=now),
        "done": ReservationFactory(status=S.PAID, start_time=ago(hours=3)),
        "cancelled": ReservationFactory(status=S.CANCELLED, start_time=ago(hours=3)),
    }


def test_the_beat_task_enqueues_one_task_per_due_row(
    due_rows, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        counts = dispatch_due_work()

    ids = {name: row.pk for name, row in due_rows.items()}
    assert counts == {"finish": 2, "expire": 1, "remind": 1}
    # The reminder is queued in the claim's transaction; its send task follows the signal.
    [reminder] = OutboundEmail.objects.filter(kind="reminder")
    assert reminder.to == due_rows["ends_soon"].email
    assert sorted(enqueued.drain()) == sorted(
        [
            (FINISH, [ids["ran_out"]]),
            (FINISH, [ids["ended_not_charged"]]),
            (EXPIRE, [ids["stale_hold"]]),
            (EMAIL, [reminder.pk]),
        ]
    )


def test_unsent_email_is_dispatched_again_once_due(enqueued, django_capture_on_commit_callbacks):
    """What the signal's task did not send (broker down, mail server down) the sweep does."""
    reminder = ReservationFactory(start_time=ago(minutes=55), minutes=60)
    with django_capture_on_commit_callbacks(execute=True):
        dispatch()
    [email] = OutboundEmail.objects.filter(to=reminder.email)
    enqueued.drain()

    with django_capture_on_commit_callbacks(execute=True):
        summary = dispatch(now=email.next_attempt_at)

    assert summary.email == [email.pk]
    assert enqueued.drain() == [(EMAIL, [email.pk])]


def test_claimed_rows_are_not_enqueued_again_until_the_claim_lapses(
    due_rows, enqueued, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        first = dispatch()
    enqueued.drain()

    with django_capture_on_commit_callbacks(execute=True):
        again = dispatch()
    assert (again.finish, again.expire, again.remind, again.email) == ([], [], [], [])
    assert enqueued.drain() == []

    # A worker died: its claims lapse and the work is claimed again (reminders never are).
    later = timezone.now() + timedelta(seconds=settings.DUE_WORK_CLAIM_TIMEOUT_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        retry = dispatch(now=later)
    assert sorted(retry.finish) == sorted(first.finish)
    assert retry.expire == first.expire
    assert retry.remind == []


def test_a_batch_is_capped_and_the_rest_waits_for_the_next_beat(enqueued, settings):
    settings.DUE_WORK_BATCH_SIZE = 2
    rows = [ReservationFactory(start_time=ago(minutes=30), minutes=10) for _ in range(3)]

    first = dispatch()
    second = dispatch()

    assert len(first.finish) == 2 and len(second.finish) == 1
    assert sorted(first.finish + second.finish) == sorted(r.pk for r in rows)


def test_concurrent_dispatchers_skip_each_others_locked_rows(transactional_db, enqueued):
    """Two beats (say, one restarted) never claim the same row: SKIP LOCKED."""
    import threading

    from django.db import connection, transaction

    rows = [ReservationFactory(start_time=ago(minutes=30), minutes=10) for _ in range(6)]
    locked = threading.Event()
    release = threading.Event()
    claimed_by_other = []

    def other_beat():
        with transaction.atomic():
            ids = list(
                Reservation.objects.filter(pk__in=[r.pk for r in rows[:3]])
                .select_for_update()
                .values_list("pk", flat=True)
            )
            claimed_by_other.extend(ids)
            locked.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=other_beat)
    thread.start()
    locked.wait(10)
    try:
        summary = dispatch()
    finally:
        release.set()
        thread.join()

    assert sorted(summary.finish) == sorted(r.pk for r in rows[3:])
    assert set(summary.finish).isdisjoint(claimed_by_other)


def test_reminders_are_off_when_configured(enqueued, settings):
    settings.RESERVATION_REMINDER_MINUTES = 0
    ReservationFactory(start_time=ago(minutes=55), minutes=60)

    assert dispatch().remind == []


def test_ending_early_claims_the_work_it_queues(enqueued, django_capture_on_commit_callbacks):
    from reservations.services import reservation_end_now

    reservation = ReservationFactory(start_time=ago(minutes=10), minutes=60)
    with django_capture_on_commit_callbacks(execute=True):
        reservation_end_now(reservation_id=reservation.pk)

    assert enqueued.drain() == [(FINISH, [reservation.pk])]
    assert dispatch().finish == []  # the beat does not queue it a second time


def test_work_due_before_the_next_beat_is_queued_for_its_moment(
    enqueued, settings, django_capture_on_commit_callbacks
):
    settings.DUE_WORK_INTERVAL_SECONDS = 10
    soon = ReservationFactory(start_time=ago(minutes=30), minutes=30)
    Reservation.objects.filter(pk=soon.pk).update(end_time=timezone.now() + timedelta(seconds=4))
    later = ReservationFactory(start_time=ago(minutes=30), minutes=31)

    with django_capture_on_commit_callbacks(execute=True):
        summary = dispatch()

    assert summary.finish == [soon.pk]
    assert [sent for sent in enqueued.drain() if sent[0] == FINISH] == [(FINISH, [soon.pk])]
    soon.refresh_from_db()
    assert enqueued.etas[(FINISH, soon.pk)] == soon.end_time.isoformat()
    assert later.pk not in summary.finish


def test_changing_the_end_releases_the_claim(enqueued, settings):
    from reservations.services import reservation_change_end_time

    reservation = ReservationFactory(start_time=ago(minutes=30), minutes=30)
    end = timezone.now() + timedelta(seconds=4)
    Reservation.objects.filter(pk=reservation.pk).update(end_time=end)
    assert dispatch().finish == [reservation.pk]

    reservation_change_end_time(reservation_id=reservation.pk, end_time=end + timedelta(minutes=5))

    reservation.refresh_from_db()
    assert reservation.work_claimed_at is None
    later = timezone.now() + timedelta(minutes=5)
    assert dispatch(now=later).finish == [reservation.pk]


@pytest.mark.parametrize(
    ("task", "status", "queued"),
    [
        (reservation_send_ended, S.PAID, True),
        (reservation_send_ended, S.ACTIVE, False),
        (reservation_send_reminder, S.ACTIVE, True),
        (reservation_send_reminder, S.PAID, False),
    ],
)
def test_messages_of_the_code_before_the_outbox_are_queued_into_it(task, status, queued):
    reservation = ReservationFactory(status=status, start_time=ago(minutes=55), minutes=60)

    assert task(reservation.pk) is queued
    task(reservation.pk)

    emails = OutboundEmail.objects.filter(to=reservation.email)
    assert emails.count() == (1 if queued else 0)
