"""Attacks on the service's capacity to take bookings (issue 12, item 5), default settings.

Before the change: one account with no card took 60 spots in seconds (no cap on unpaid holds,
no throttle on signed-in write routes), a booking POST retried after a lost response booked
twice, and a browser could not send an Idempotency-Key across origins.
"""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from reservations import services
from reservations.models import IdempotentRequest, Reservation, ReservationStatus
from reservations.services import idempotent_request_claim, reservation_create
from secure_my_spot.exceptions import ConflictError
from testing.factories import ParkingSpotFactory, UserFactory
from testing.localstripe import CARD_OK
from tests.payments.conftest import signed_in_as
from tests.threads import run_in_thread

S = ReservationStatus
BOOK = {"reservation": {"reservation_length": 60}}


def book_auth(client: APIClient, **headers):
    spot = ParkingSpotFactory()
    return client.post(f"/reservation-auth/{spot.pk}/", BOOK, format="json", **headers)


def book_guest(client: APIClient, email: str, **headers):
    body = {"reservation": {"email": email, "reservation_length": 60}}
    return client.post(
        f"/reservation-unauth/{ParkingSpotFactory().pk}/", body, format="json", **headers
    )


def at(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def account_at(address: str) -> APIClient:
    client = signed_in_as(UserFactory())
    client.defaults["REMOTE_ADDR"] = address
    return client


# --- caps on unpaid holds -----------------------------------------------------------------


@pytest.mark.django_db
def test_one_account_cannot_hold_more_than_the_cap(localstripe):
    cap = settings.HOLDS_MAX_PER_ACCOUNT
    hoarder = account_at("198.51.100.1")
    held = [book_auth(hoarder) for _ in range(cap)]
    assert [response.status_code for response in held] == [201] * cap

    refused = book_auth(hoarder)

    assert refused.status_code == 409
    assert f"at most {cap} may wait for payment at once per account" in refused.json()["detail"]
    assert Reservation.objects.filter(status=S.PENDING_PAYMENT).count() == cap
    # Someone else is not affected.
    assert book_auth(account_at("198.51.100.2")).status_code == 201

    # A hold paid for frees its place...
    first = held[0].json()["id"]
    secret = hoarder.post(f"/create-payment-intent-auth/{first}/").json()["clientSecret"]
    localstripe.confirm_card_setup(secret, CARD_OK)
    assert hoarder.get(f"/confirm-successful-setup-intent-auth/{first}/").status_code == 204
    assert book_auth(hoarder).status_code == 201
    assert book_auth(hoarder).status_code == 409
    # ... and so does one that ran out.
    Reservation.objects.filter(public_id=held[1].json()["id"]).update(
        hold_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert book_auth(hoarder).status_code == 201


@pytest.mark.django_db
def test_one_email_cannot_hold_more_than_the_cap_from_many_addresses():
    cap = settings.HOLDS_MAX_PER_EMAIL
    for n in range(cap):
        assert book_guest(at(f"198.51.100.{n + 1}"), "Hoarder@Example.com").status_code == 201

    refused = book_guest(at("198.51.100.200"), "hoarder@example.com")

    assert refused.status_code == 409
    assert (
        f"at most {cap} may wait for payment at once per e-mail address"
        in (refused.json()["detail"])
    )
    # Guest holds under an address do not use up the account of that address's owner.
    owner = signed_in_as(UserFactory(email="hoarder@example.com"))
    owner.defaults["REMOTE_ADDR"] = "198.51.100.201"
    assert book_auth(owner).status_code == 201
    # A cancelled hold frees its place.
    first = Reservation.objects.filter(user=None).earliest("created_at")
    cancel = at("198.51.100.1").delete(
        f"/delete-reservation-unauth/{first.public_id}/hoarder@example.com/"
    )
    assert cancel.status_code == 204
    assert book_guest(at("198.51.100.202"), "hoarder@example.com").status_code == 201


@pytest.mark.django_db
def test_one_address_cannot_hold_more_than_the_cap_with_many_emails():
    cap = settings.HOLDS_MAX_PER_ADDRESS
    hoarder = at("203.0.113.9")
    for n in range(cap):
        assert book_guest(hoarder, f"alias{n}@example.com").status_code == 201

    refused = book_guest(hoarder, "alias-next@example.com")
    signed_in_there = account_at("203.0.113.9")

    assert refused.status_code == 409
    assert (
        f"at most {cap} may wait for payment at once per network address"
        in (refused.json()["detail"])
    )
    assert book_auth(signed_in_there).status_code == 409
    assert book_guest(at("203.0.113.10"), "alias-next@example.com").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_of_one_account_cannot_all_pass_the_cap():
    user = UserFactory()
    spots = ParkingSpotFactory.create_batch(8)
    barrier = threading.Barrier(len(spots))
    outcomes: list[str] = []
    lock = threading.Lock()

    def book(spot_id: int) -> None:
        connection.ensure_connection()
        barrier.wait()
        try:
            reservation_create(
                spot_id=spot_id, reservation_length=30, user=user, client_address="192.0.2.1"
            )
            outcome = "won"
        except ConflictError:
            outcome = "refused"
        except Exception as exc:  # anything else is a defect
            outcome = repr(exc)
        with lock:
            outcomes.append(outcome)

    threads = [run_in_thread(book, spot.pk) for spot in spots]
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == sorted(
        ["won"] * settings.HOLDS_MAX_PER_ACCOUNT
        + ["refused"] * (len(spots) - settings.HOLDS_MAX_PER_ACCOUNT)
    )
    assert Reservation.objects.filter(user=user).count() == settings.HOLDS_MAX_PER_ACCOUNT


@pytest.mark.django_db(transaction=True)
def test_a_booking_waits_for_another_of_the_same_account_only_so_long(monkeypatch):
    monkeypatch.setattr(services, "HOLDER_LOCK_TIMEOUT", "200ms")
    user = UserFactory()
    locked, release = threading.Event(), threading.Event()

    def other_booking_in_progress() -> None:
        with transaction.atomic():
            services._lock_holders([f"user:{user.pk}"])
            locked.set()
            release.wait(timeout=10)

    holder = run_in_thread(other_booking_in_progress)
    locked.wait(timeout=10)
    try:
        with pytest.raises(ConflictError, match="under way"):
            reservation_create(spot_id=ParkingSpotFactory().pk, reservation_length=30, user=user)
    finally:
        release.set()
        holder.join(timeout=10)
    assert reservation_create(spot_id=ParkingSpotFactory().pk, reservation_length=30, user=user)


# --- throttles on signed-in writes --------------------------------------------------------


@pytest.mark.django_db
def test_a_burst_of_signed_in_writes_is_throttled_per_account():
    rate = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["writes"].split("/")[0])
    burst = account_at("198.51.100.50")
    statuses = [book_auth(burst).status_code for _ in range(rate)]
    assert set(statuses) <= {201, 409}

    # From another address too: the count is the account's, and every write route shares it.
    burst.defaults["REMOTE_ADDR"] = "198.51.100.51"
    booked = Reservation.objects.filter(user__isnull=False).first()
    for response in (
        book_auth(burst),
        burst.patch(f"/update-reservation-auth/{booked.public_id}/", BOOK, format="json"),
        burst.delete(f"/delete-reservation-auth/{booked.public_id}/"),
        burst.post(f"/create-payment-intent-auth/{booked.public_id}/"),
        burst.get(f"/confirm-successful-setup-intent-auth/{booked.public_id}/"),
    ):
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
    assert Reservation.objects.get(pk=booked.pk).status == S.PENDING_PAYMENT
    # Another account is not slowed down.
    assert book_auth(account_at("198.51.100.52")).status_code == 201


# --- Idempotency-Key ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_booking_retried_after_a_lost_response_books_once():
    client = account_at("198.51.100.60")
    spot = ParkingSpotFactory()
    path = f"/reservation-auth/{spot.pk}/"

    first = client.post(path, BOOK, format="json", HTTP_IDEMPOTENCY_KEY="order-7f3a")
    # The response is lost; the client retries the same request (without the slash even).
    retry = client.post(path.rstrip("/"), BOOK, format="json", HTTP_IDEMPOTENCY_KEY="order-7f3a")

    assert first.status_code == 201
    assert (retry.status_code, retry.content) == (first.status_code, first.content)
    assert retry["Idempotent-Replayed"] == "true"
    assert Reservation.objects.count() == 1
    # Another key is another booking (of that spot: taken, a 409).
    assert client.post(path, BOOK, format="json", HTTP_IDEMPOTENCY_KEY="b").status_code == 409


@pytest.mark.django_db
def test_a_guest_booking_and_its_payment_intent_replay_too(localstripe):
    guest = at("198.51.100.61")
    first = book_guest(guest, "retry@example.com", HTTP_IDEMPOTENCY_KEY="k-1")
    spot = first.json()["parking_spot"]
    body = {"reservation": {"email": "retry@example.com", "reservation_length": 60}}
    retry = guest.post(
        f"/reservation-unauth/{spot}/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    path = f"/create-payment-intent-unauth/{first.json()['id']}/retry@example.com/"
    intents = [guest.post(path, HTTP_IDEMPOTENCY_KEY="pay-1") for _ in range(2)]

    assert first.status_code == 201
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert Reservation.objects.count() == 1
    assert [intent.status_code for intent in intents] == [201, 201]
    assert intents[0].json() == intents[1].json()
    assert intents[1]["Idempotent-Replayed"] == "true"
    # The same key from another guest (another address) is another caller's key.
    other = at("198.51.100.62").post(path, HTTP_IDEMPOTENCY_KEY="pay-1")
    assert other.status_code == 201
    assert "Idempotent-Replayed" not in other


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_a_422_naming_the_header():
    client = account_at("198.51.100.63")
    spot = ParkingSpotFactory()
    path = f"/reservation-auth/{spot.pk}/"
    assert client.post(path, BOOK, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201

    longer = {"reservation": {"reservation_length": 90}}
    reused = client.post(path, longer, format="json", HTTP_IDEMPOTENCY_KEY="k")
    elsewhere = client.post(
        f"/reservation-auth/{ParkingSpotFactory().pk}/",
        BOOK,
        format="json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    for response in (reused, elsewhere):
        assert response.status_code == 422
        assert list(response.json()) == ["Idempotency-Key"]
    assert Reservation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_a_malformed_key_is_a_400_naming_the_header(key):
    response = book_auth(account_at("198.51.100.64"), HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert list(response.json()) == ["Idempotency-Key"]
    assert not Reservation.objects.exists()


@pytest.mark.django_db
def test_a_key_whose_first_request_is_still_running_is_a_409():
    user = UserFactory()
    client = signed_in_as(user)
    spot = ParkingSpotFactory()
    path = f"/reservation-auth/{spot.pk}/"
    # The first request has claimed the key and not answered yet.
    first = client.post(path, BOOK, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    IdempotentRequest.objects.filter(key="slow").update(status_code=None, response_body="")

    running = client.post(path, BOOK, format="json", HTTP_IDEMPOTENCY_KEY="slow")

    assert first.status_code == 201
    assert running.status_code == 409
    assert "still being processed" in running.json()["detail"]
    # A claim abandoned minutes ago (its process died) is free again.
    IdempotentRequest.objects.filter(key="slow").update(
        created_at=timezone.now() - timedelta(minutes=5)
    )
    assert (
        idempotent_request_claim(caller=f"user:{user.pk}", key="slow", request_sha256="another")
        is None
    )


@pytest.mark.django_db
def test_a_browser_on_an_allowed_origin_may_send_the_idempotency_key(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    preflight = APIClient().options(
        f"/reservation-unauth/{ParkingSpotFactory().pk}/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,idempotency-key",
    )

    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.com"
    allowed = {h.strip() for h in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {"idempotency-key", "authorization", "content-type"} <= allowed
