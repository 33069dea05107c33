"""The end of a stay on the threads pool (the workers' configured pool, settings/celery.py):
many tasks of one process at once, each with its own database connection and Stripe session,
still charge and mail each reservation exactly once, duplicated messages included.

Real processes as in test_pipeline.py: a worker on the real RabbitMQ, localstripe behind a
proxy that holds every Stripe call (testing/latency_proxy.py), so that the copies of one
reservation's task are in flight together in different threads, and an SMTP server.
"""

import time

import pytest

from reservations.models import Reservation
from tasks.tasks import reservation_finish
from testing.factories import ParkingSpotFactory
from testing.latency_proxy import running_latency_proxy
from testing.net import wait_until
from tests.tasks.test_pipeline import ENDED_SUBJECT, Driver, assert_finished_once, finished

pytestmark = pytest.mark.django_db(transaction=True)

RESERVATIONS = 6
COPIES = 4  # of each reservation's task: the one its end enqueues, and three more
THREADS = 8
STRIPE_DELAY_SECONDS = 0.3


def test_many_threads_charge_and_mail_each_reservation_once(celery_processes, localstripe, mailbox):
    drivers = [Driver(localstripe) for _ in range(RESERVATIONS)]
    booked = [driver.book_and_pay(ParkingSpotFactory().pk) for driver in drivers]
    # The production default: each thread keeps its database connection between tasks.
    celery_processes.env.pop("CONN_MAX_AGE")
    with running_latency_proxy(localstripe.base_url, delay_seconds=STRIPE_DELAY_SECONDS) as proxy:
        celery_processes.env["STRIPE_API_BASE"] = proxy.base_url
        celery_processes.worker("threads", concurrency=THREADS, pool="threads")
        assert f"concurrency: {THREADS} (thread)" in celery_processes.log("threads")

        for driver, reservation_id in zip(drivers, booked, strict=True):
            driver.change_end(reservation_id, None)  # ends now and enqueues the pipeline
            pk = Reservation.objects.get(public_id=reservation_id).pk
            for _ in range(COPIES - 1):
                reservation_finish.delay(pk)

        wait_until(
            lambda: all(
                finished(reservation_id, mailbox, driver.email)
                for driver, reservation_id in zip(drivers, booked, strict=True)
            ),
            timeout=60,
        )
        time.sleep(2)  # let every copy run to completion

        # One Stripe call per reservation: the copies found it charged under its row lock.
        assert proxy.requests == RESERVATIONS
    for driver, reservation_id in zip(drivers, booked, strict=True):
        reservation = Reservation.objects.get(public_id=reservation_id)
        assert_finished_once(localstripe, mailbox, reservation, driver.email)
    assert len(mailbox.messages(subject=ENDED_SUBJECT)) == RESERVATIONS
