"""End-of-reservation pipeline with real processes: a Celery worker and beat on the real
RabbitMQ and Redis, localstripe for the charge, an SMTP server for the mail.

Reservations are made, paid for and changed through the public API, as a client would.
"""

import subprocess
import time
import uuid
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from reservations.models import Reservation
from reservations.models import ReservationStatus as S
from secure_my_spot.celery import app as celery_app
from tasks.tasks import reservation_finish
from testing.factories import ParkingSpotFactory
from testing.localstripe import CARD_OK
from testing.net import wait_until
from tests.payments.conftest import recorded_payment_intent

pytestmark = pytest.mark.django_db(transaction=True)

ENDED_SUBJECT = "has ended"


def iso(moment) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Driver:
    """A guest with a saved card, using the public routes."""

    def __init__(self, localstripe) -> None:
        self.client = APIClient()
        self.email = f"driver-{uuid.uuid4().hex[:10]}@example.com"
        self.localstripe = localstripe

    def book_and_pay(self, spot_id: int, minutes: int = 60) -> str:
        created = self.client.post(
            f"/reservation-unauth/{spot_id}/",
            {"reservation": {"email": self.email, "reservation_length": minutes}},
            format="json",
        )
        assert created.status_code == 201, created.content
        reservation_id = created.json()["id"]
        intent = self.client.post(f"/create-payment-intent-unauth/{reservation_id}/{self.email}/")
        assert intent.status_code == 201, intent.content
        self.localstripe.confirm_card_setup(intent.json()["clientSecret"], CARD_OK)
        confirmed = self.client.get(
            f"/confirm-successful-setup-intent-unauth/{reservation_id}/{self.email}/"
        )
        assert confirmed.status_code == 204, confirmed.content
        return reservation_id

    def change_end(self, reservation_id: str, end_time) -> dict:
        response = self.client.patch(
            f"/update-reservation-unauth/{reservation_id}/{self.email}/",
            {"reservation": {"end_time": None if end_time is None else iso(end_time)}},
            format="json",
        )
        assert response.status_code == 200, response.content
        return response.json()


def charges(localstripe, reservation: Reservation) -> list[dict]:
    return localstripe.payment_intents(reservation.stripe_customer_id)


def finished(reservation_id: str, mailbox, email: str):
    """The pipeline's end state: paid and the 'ended' mail received; the row, or None."""
    reservation = Reservation.objects.get(public_id=reservation_id)
    if reservation.status == S.PAID and mailbox.messages(to=email, subject=ENDED_SUBJECT):
        return reservation
    return None


def available_ids(client: APIClient) -> set[int]:
    response = client.get("/available-parking-spots/")
    assert response.status_code == 200
    return {spot["id"] for spot in response.json()}


def assert_finished_once(localstripe, mailbox, reservation: Reservation, email: str) -> None:
    made = charges(localstripe, reservation)
    assert [(c["amount"], c["status"]) for c in made] == [(reservation.amount_cents, "succeeded")]
    assert recorded_payment_intent(reservation) == made[0]["id"]
    assert len(mailbox.messages(to=email, subject=ENDED_SUBJECT)) == 1


def test_a_short_reservation_is_ended_charged_mailed_and_freed_within_15s(
    celery_processes, localstripe, mailbox
):
    celery_processes.worker()
    celery_processes.beat()
    spot = ParkingSpotFactory()
    driver = Driver(localstripe)
    reservation_id = driver.book_and_pay(spot.pk)
    assert spot.pk not in available_ids(driver.client)

    end = timezone.now() + timedelta(seconds=3)
    driver.change_end(reservation_id, end)
    reservation = wait_until(
        lambda: finished(reservation_id, mailbox, driver.email), timeout=30, interval=0.1
    )
    done_after = (timezone.now() - end).total_seconds()

    assert done_after < 15, f"done {done_after:.1f} s after the end"
    assert reservation.ended_at == end.replace(microsecond=end.microsecond)
    assert reservation.amount_cents == 50  # 1 started minute, under the minimum charge
    assert_finished_once(localstripe, mailbox, reservation, driver.email)
    mail = mailbox.messages(to=driver.email, subject=ENDED_SUBJECT)[0]
    assert "$0.50" in mail.get_payload(0).get_payload(decode=True).decode()
    assert spot.pk in available_ids(driver.client)


def test_shortened_and_extended_reservations_end_at_their_new_time_once(
    celery_processes, localstripe, mailbox
):
    celery_processes.worker()
    celery_processes.beat()
    shortened, extended = Driver(localstripe), Driver(localstripe)
    short_id = shortened.book_and_pay(ParkingSpotFactory().pk)
    long_id = extended.book_and_pay(ParkingSpotFactory().pk)

    now = timezone.now()
    shortened.change_end(short_id, now + timedelta(seconds=2))
    extended.change_end(long_id, now + timedelta(seconds=2))
    extended.change_end(long_id, now + timedelta(seconds=8))

    wait_until(lambda: finished(short_id, mailbox, shortened.email), timeout=20)
    assert Reservation.objects.get(public_id=long_id).status == S.ACTIVE
    time.sleep(max(0.0, (now + timedelta(seconds=6) - timezone.now()).total_seconds()))
    assert Reservation.objects.get(public_id=long_id).status == S.ACTIVE, "ended at its old time"
    long_done = wait_until(lambda: finished(long_id, mailbox, extended.email), timeout=20)

    assert long_done.ended_at == long_done.end_time >= now + timedelta(seconds=8)
    assert_finished_once(
        localstripe, mailbox, Reservation.objects.get(public_id=short_id), shortened.email
    )
    assert_finished_once(localstripe, mailbox, long_done, extended.email)


def test_a_hold_that_runs_out_is_cancelled(celery_processes, localstripe):
    celery_processes.worker()
    celery_processes.beat()
    client = APIClient()
    spot = ParkingSpotFactory()
    created = client.post(
        f"/reservation-unauth/{spot.pk}/",
        {"reservation": {"email": "late@example.com", "reservation_length": 30}},
        format="json",
    )
    reservation_id = created.json()["id"]
    Reservation.objects.filter(public_id=reservation_id).update(
        hold_expires_at=timezone.now() + timedelta(seconds=1)
    )

    cancelled = wait_until(
        lambda: Reservation.objects.filter(public_id=reservation_id, status=S.CANCELLED).first(),
        timeout=15,
    )

    assert cancelled.amount_cents == 0
    assert spot.pk in available_ids(client)


def test_the_same_task_delivered_many_times_charges_once(celery_processes, localstripe, mailbox):
    celery_processes.worker(concurrency=2)
    driver = Driver(localstripe)
    reservation_id = driver.book_and_pay(ParkingSpotFactory().pk)

    driver.change_end(reservation_id, None)  # ends now and enqueues the pipeline
    for _ in range(4):
        reservation_finish.delay(Reservation.objects.get(public_id=reservation_id).pk)

    reservation = wait_until(lambda: finished(reservation_id, mailbox, driver.email), timeout=30)
    time.sleep(2)  # let every duplicate run to completion
    assert_finished_once(
        localstripe, mailbox, Reservation.objects.get(pk=reservation.pk), driver.email
    )


def test_a_killed_worker_leaves_work_another_completes_once(celery_processes, localstripe, mailbox):
    driver = Driver(localstripe)
    reservation_id = driver.book_and_pay(ParkingSpotFactory().pk)
    first = celery_processes.worker("doomed")

    with localstripe.stopped():
        driver.change_end(reservation_id, None)
        # The charge cannot reach Stripe: the task is retrying, its message held by `first`.
        wait_until(lambda: "Retry in" in celery_processes.log("doomed"), timeout=15, interval=0.2)
        celery_processes.kill(first)
        assert Reservation.objects.get(public_id=reservation_id).status == S.ENDED

    celery_processes.worker("rescuer")
    celery_processes.beat()
    reservation = wait_until(lambda: finished(reservation_id, mailbox, driver.email), timeout=30)
    time.sleep(2)
    assert_finished_once(localstripe, mailbox, reservation, driver.email)


def broker_answers() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except (OSError, OperationalError):
        return False
    return True


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=60)  # noqa: S603, S607


def test_broker_restart_while_work_is_due_loses_nothing(celery_processes, localstripe, mailbox):
    celery_processes.worker()
    celery_processes.beat()
    driver = Driver(localstripe)
    reservation_id = driver.book_and_pay(ParkingSpotFactory().pk)
    driver.change_end(reservation_id, timezone.now() + timedelta(seconds=2))

    rabbitmqctl("stop_app")
    try:
        time.sleep(4)  # the end passes while there is no broker
        assert Reservation.objects.get(public_id=reservation_id).status == S.ACTIVE
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
        wait_until(broker_answers, timeout=30)

    reservation = wait_until(lambda: finished(reservation_id, mailbox, driver.email), timeout=60)
    assert_finished_once(localstripe, mailbox, reservation, driver.email)
