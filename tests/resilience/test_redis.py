"""Redis refusing connections or accepting and never answering: sign-in, bookings, guest and
spot routes answer as usual and fast, throttles still limit (in the process's memory) with
one warning, and /readyz reports the cache degraded."""

import logging
import socket
import time
from collections.abc import Callable

import pytest
import redis
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from availability.selectors import _latest_bodies
from availability.throttles import SpotRateThrottle
from reservations.models import Reservation
from secure_my_spot.cache import fail_open_cache
from testing.factories import PASSWORD, ParkingSpotFactory
from tests.availability.test_compression import scatter, serializer_output

pytestmark = pytest.mark.django_db

# Every request here answers within this, however many cache calls it makes.
BOUND_SECONDS = 2.0


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: a Redis refusing connections."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@pytest.fixture(params=["refused", "stalled"])
def redis_down(request, settings, monkeypatch) -> str:
    """The web tier's cache pointed at a dead Redis (a fresh cache handler, so a fresh pool)."""
    port = (
        request.getfixturevalue("closed_port")
        if request.param == "refused"
        else request.getfixturevalue("stall_server").port
    )
    fail_open_cache.clear()
    _latest_bodies.clear()  # spot bodies must go through the cache path, not this memory
    monkeypatch.setattr(fail_open_cache, "_warned_at", None)
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }
    yield request.param
    fail_open_cache.clear()


@pytest.fixture
def within_bound() -> Callable:
    def call(request: Callable, *args, **kwargs):
        start = time.monotonic()
        response = request(*args, **kwargs)
        elapsed = time.monotonic() - start
        assert elapsed < BOUND_SECONDS, f"{elapsed:.2f} s"
        return response

    return call


def sign_in(client: APIClient, email: str, password: str = PASSWORD):
    body = {"credentials": {"email": email, "password": password}}
    return client.post("/sign-in/", body, format="json")


def test_the_cache_really_is_down(redis_down, within_bound):
    with pytest.raises(redis.RedisError):
        within_bound(cache.get, "anything")


def test_sign_up_and_sign_in(redis_down, api_client, user, within_bound):
    body = {
        "credentials": {
            "email": "new@example.com",
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        }
    }
    assert within_bound(api_client.post, "/sign-up/", body, format="json").status_code == 201
    assert within_bound(sign_in, api_client, user.email, "wrong-password-x").status_code == 401
    response = within_bound(sign_in, api_client, user.email)
    assert response.status_code == 201, response.content
    assert response.json()["token"]


def test_signed_in_booking(redis_down, api_client, user, within_bound):
    token = within_bound(sign_in, api_client, user.email).json()["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    spot = ParkingSpotFactory(time_limit_minutes=None)

    body = {"reservation": {"reservation_length": 60}}
    response = within_bound(api_client.post, f"/reservation-auth/{spot.pk}/", body, format="json")

    assert response.status_code == 201, response.content
    assert Reservation.objects.get(public_id=response.json()["id"]).user == user
    listed = within_bound(api_client.get, "/reservation-auth/")
    assert [item["id"] for item in listed.json()] == [response.json()["id"]]


def test_guest_routes(redis_down, api_client, within_bound):
    spot = ParkingSpotFactory(time_limit_minutes=None)
    body = {"reservation": {"email": "guest@example.com", "reservation_length": 30}}

    booked = within_bound(api_client.post, f"/reservation-unauth/{spot.pk}/", body, format="json")

    assert booked.status_code == 201, booked.content
    path = f"/reservation-unauth/{booked.json()['id']}/guest@example.com/"
    read = within_bound(api_client.get, path)
    assert read.status_code == 200 and read.json()["parking_spot"] == spot.pk


def test_spot_routes_serve_without_the_cache(redis_down, api_client, within_bound):
    spot = ParkingSpotFactory(lat="40.758000", lng="-73.985500")

    everything = within_bound(api_client.get, "/available-parking-spots/")
    search = within_bound(
        api_client.get,
        "/available-parking-spots-filter/",
        {"lat": "40.758", "long": "-73.9855", "unit": "km", "dist": "1"},
    )

    assert everything.status_code == 200 and search.status_code == 200
    assert [item["id"] for item in everything.json()] == [spot.pk]
    assert [item["id"] for item in search.json()] == [spot.pk]
    again = within_bound(
        api_client.get, "/available-parking-spots/", HTTP_IF_NONE_MATCH=everything["ETag"]
    )
    assert again.status_code == 304


@pytest.mark.django_db(transaction=True)  # the shared-cache path, not a transaction's own
def test_a_large_all_spots_body_streams_as_it_is_built(redis_down, api_client, monkeypatch):
    """Redis refusing or stalled: a body too large to hold whole (past the lowered bound)
    streams from its build, without Content-Length, within the bound, nothing held."""
    scatter()
    monkeypatch.setattr("availability.selectors.LATEST_BODIES_MAX_BYTES", 4000)
    monkeypatch.setattr("availability.spot_json.SNAPSHOT_PIECE_SPOTS", 3)
    start = time.monotonic()

    response = api_client.get("/available-parking-spots/")
    body = b"".join(response.streaming_content)

    assert time.monotonic() - start < BOUND_SECONDS
    assert body == serializer_output() and len(body) > 4000
    assert "Content-Length" not in response
    assert not _latest_bodies


def test_throttles_still_limit_per_process(
    redis_down, api_client, user, settings, monkeypatch, within_bound, caplog
):
    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {"guest": "2/minute", "auth": "50/minute"}
    )
    monkeypatch.setattr(SpotRateThrottle, "THROTTLE_RATES", {"spots": "2/minute"})
    settings.SIGN_IN_BACKOFF_FAILURES = 2
    missing = "/reservation-unauth/00000000-0000-0000-0000-000000000000/guest@example.com/"
    caplog.set_level(logging.WARNING, logger="secure_my_spot.cache")

    guest = [within_bound(api_client.get, missing).status_code for _ in range(3)]
    spots = [
        within_bound(api_client.get, "/available-parking-spots/").status_code for _ in range(3)
    ]
    sign_ins = [
        within_bound(sign_in, api_client, user.email, "wrong-password-x").status_code
        for _ in range(3)
    ]

    assert guest == [404, 404, 429]
    assert spots == [200, 200, 429]
    assert sign_ins == [401, 401, 429]  # the sign-in backoff counts in memory too
    assert within_bound(sign_in, api_client, user.email).status_code == 429
    # Keyed as with Redis: another client address has its own count.
    assert api_client.get(missing, REMOTE_ADDR="10.9.8.7").status_code == 404
    warnings = [r for r in caplog.records if r.name == "secure_my_spot.cache"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING


def test_readyz_reports_the_cache_degraded(redis_down, api_client, within_bound):
    response = within_bound(api_client.get, "/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "checks": {"database": "ok", "broker": "ok", "cache": "unavailable"},
    }


def test_readyz_is_unavailable_when_the_broker_is_down_too(redis_down, api_client, settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["cache"] == "unavailable"


def test_with_redis_up_the_counts_are_shared_in_redis(api_client, settings, monkeypatch):
    """The process's memory is only for outages: other processes see these counts."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"guest": "2/minute"})
    missing = "/reservation-unauth/00000000-0000-0000-0000-000000000000/guest@example.com/"

    assert [api_client.get(missing).status_code for _ in range(3)] == [404, 404, 429]
    assert redis.Redis.from_url(settings.REDIS_URL).keys("*throttle_guest_127.0.0.1")


def test_a_failure_stops_calls_to_redis_for_a_while_only(stall_server, settings):
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{stall_server.port}/0",
            "OPTIONS": {**settings.CACHES["default"]["OPTIONS"], "retry_after": 0.3},
        }
    }

    def failure() -> tuple[str, float]:
        start = time.monotonic()
        with pytest.raises(redis.RedisError) as raised:
            cache.get("anything")
        return str(raised.value), time.monotonic() - start

    timed_out, waited = failure()
    assert "Timeout" in timed_out and 0.4 < waited < 1
    refused, waited = failure()
    assert "not tried again" in refused and waited < 0.05
    time.sleep(0.35)
    assert "Timeout" in failure()[0]  # tried again, and stalled again
