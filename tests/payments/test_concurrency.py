"""Clients, webhooks and retries racing for one reservation: the row lock makes them queue."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection
from rest_framework.test import APIClient

from reservations.models import Reservation, ReservationStatus
from reservations.services import reservation_create
from testing.factories import ParkingSpotFactory
from testing.localstripe import CARD_OK
from tests.payments.conftest import unique_email
from tests.payments.test_webhooks import deliver, event

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls: Callable[[], object]) -> list:
    """Run the calls at the same moment, each in its own thread and database connection."""
    barrier = Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        try:
            barrier.wait(timeout=10)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def guest_reservation() -> tuple[Reservation, str]:
    email = unique_email()
    reservation = reservation_create(
        spot_id=ParkingSpotFactory().pk, reservation_length=60, email=email
    )
    return reservation, f"{reservation.public_id}/{email}"


def test_concurrent_creates_share_one_setup_intent(localstripe):
    reservation, guest = guest_reservation()

    def create() -> tuple[int, str]:
        response = APIClient().post(f"/create-payment-intent-unauth/{guest}/")
        return response.status_code, response.json()["clientSecret"]

    results = race(create, create, create)

    reservation.refresh_from_db()
    assert {status for status, _ in results} == {201}
    assert {secret.split("_secret_")[0] for _, secret in results} == {
        reservation.stripe_setup_intent_id
    }


def test_confirm_racing_the_webhook_activates_once_and_emails_once(localstripe, outbox):
    reservation, guest = guest_reservation()
    client_secret = APIClient().post(f"/create-payment-intent-unauth/{guest}/").json()
    localstripe.confirm_card_setup(client_secret["clientSecret"], CARD_OK)
    reservation.refresh_from_db()
    webhook = event("setup_intent.succeeded", reservation.stripe_setup_intent_id)

    statuses = race(
        lambda: APIClient().get(f"/confirm-successful-setup-intent-unauth/{guest}/").status_code,
        lambda: APIClient().get(f"/confirm-successful-setup-intent-unauth/{guest}/").status_code,
        lambda: deliver(webhook).status_code,
    )

    assert statuses == [204, 204, 200]
    assert Reservation.objects.get(pk=reservation.pk).status == ReservationStatus.ACTIVE
    assert [message.to for message in outbox.deliver()] == [[reservation.email]]
