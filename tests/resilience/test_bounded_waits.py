"""Bounded waits: PostgreSQL locks and statements, SMTP and Stripe, chosen by process role.

The tests run in-process with no role (like a management command); a test that needs the
web role declares it and reconnects, since the waits are set when a connection opens.
"""

import os
import smtplib
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg2
import pytest
from django.conf import settings
from django.core.mail import send_mail
from django.db import OperationalError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from payments import gateway
from payments.exceptions import PaymentProviderUnavailable
from reservations.models import Reservation
from secure_my_spot.middleware import DatabaseTimeoutMiddleware
from secure_my_spot.process_role import WEB, WORKER, process_role_declare
from testing.factories import ParkingSpotFactory, ReservationFactory
from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def declare_role():
    """Declare a role for this process and reconnect so the new connection takes its waits."""

    def declare(role: str | None) -> None:
        process_role_declare(role=role)
        connection.close()

    yield declare
    declare(None)


@pytest.fixture
def row_locked_elsewhere():
    """Hold `SELECT ... FOR UPDATE` on a reservation from a second connection until the test
    releases it (or ends)."""
    raw = connection.get_new_connection(connection.get_connection_params())
    with raw.cursor() as cursor:
        # Should the code under test wait forever, the holder goes first: a failure, no hang.
        cursor.execute("SET idle_in_transaction_session_timeout = '5s'")

    def lock(reservation: Reservation) -> None:
        with raw.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {Reservation._meta.db_table} WHERE id = %s FOR UPDATE",  # noqa: S608
                [reservation.pk],
            )

    lock.release = raw.rollback
    yield lock
    raw.rollback()
    raw.close()


def _patch_end(client, reservation: Reservation):
    new_end = (reservation.end_time + timedelta(minutes=30)).isoformat()
    return client.patch(
        f"/update-reservation-auth/{reservation.public_id}/",
        {"reservation": {"end_time": new_end}},
        format="json",
    )


@pytest.fixture
def reservation(user):
    spot = ParkingSpotFactory(time_limit_minutes=None)
    return ReservationFactory(spot=spot, status="active", user=user, email=user.email)


def test_a_web_request_waiting_on_a_row_lock_answers_409_within_lock_timeout(
    signed_in, reservation, settings, declare_role, row_locked_elsewhere
):
    settings.DB_WEB_LOCK_TIMEOUT_MS = 1000
    declare_role(WEB)
    row_locked_elsewhere(reservation)

    started = time.monotonic()
    response = _patch_end(signed_in, reservation)
    elapsed = time.monotonic() - started

    assert response.status_code == 409, response.content
    assert response["Content-Type"] == "application/json"
    assert "changing this right now" in response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    assert 0.9 <= elapsed < 2.0
    reservation_before = reservation.end_time
    reservation.refresh_from_db()
    assert reservation.end_time == reservation_before

    # Once the other transaction is gone the same change goes through on the same process.
    row_locked_elsewhere.release()
    assert _patch_end(signed_in, reservation).status_code == 200


def test_a_web_statement_that_runs_out_answers_503(
    signed_in, reservation, settings, declare_role, row_locked_elsewhere
):
    # A lock wait counts against statement_timeout too: the shorter one decides.
    settings.DB_WEB_LOCK_TIMEOUT_MS = 5000
    settings.DB_WEB_STATEMENT_TIMEOUT_MS = 800
    declare_role(WEB)
    row_locked_elsewhere(reservation)

    started = time.monotonic()
    response = _patch_end(signed_in, reservation)
    elapsed = time.monotonic() - started

    assert response.status_code == 503, response.content
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0
    assert elapsed < 2.0


def test_a_non_drf_view_gets_the_same_json_answer(
    reservation, settings, declare_role, row_locked_elsewhere
):
    settings.DB_WEB_LOCK_TIMEOUT_MS = 300
    declare_role(WEB)
    row_locked_elsewhere(reservation)
    with pytest.raises(OperationalError) as raised, transaction.atomic():
        Reservation.objects.select_for_update().get(pk=reservation.pk)

    response = DatabaseTimeoutMiddleware(lambda request: None).process_exception(
        RequestFactory().get("/admin/"), raised.value
    )

    assert response.status_code == 409
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "1"
    assert (
        DatabaseTimeoutMiddleware(lambda request: None).process_exception(
            RequestFactory().get("/admin/"), ValueError("not a database wait")
        )
        is None
    )


ROLE_SCRIPTS = {
    "web (wsgi)": "import secure_my_spot.wsgi",
    "web (asgi)": "import secure_my_spot.asgi",
    "worker": (
        "import django; django.setup()\n"
        "from celery.signals import worker_process_init\n"
        "import secure_my_spot.celery\n"
        "worker_process_init.send(sender=None)"
    ),
}
READ_TIMEOUTS = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute(\"SELECT setting FROM pg_settings WHERE name IN ('lock_timeout',"
    " 'statement_timeout') ORDER BY name\")\n"
    "    print(','.join(row[0] for row in cursor.fetchall()))\n"
)


def _timeouts_in_process(args: list[str]) -> str:
    """`lock_timeout,statement_timeout` (ms) as a fresh process sees them on its connection."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "secure_my_spot.settings.test",
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "DB_WEB_LOCK_TIMEOUT_MS": "1111",
        "DB_WEB_STATEMENT_TIMEOUT_MS": "2222",
        "DB_WORKER_LOCK_TIMEOUT_MS": "3333",
        "DB_WORKER_STATEMENT_TIMEOUT_MS": "4444",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        args, env=env, cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("web (wsgi)", "1111,2222"), ("web (asgi)", "1111,2222"), ("worker", "3333,4444")],
)
def test_each_entry_point_declares_its_role(entry, expected):
    script = f"{ROLE_SCRIPTS[entry]}\n{READ_TIMEOUTS}"
    assert _timeouts_in_process([sys.executable, "-c", script]) == expected


def test_management_commands_have_no_limit():
    args = [sys.executable, "manage.py", "shell", "-c", READ_TIMEOUTS]
    assert _timeouts_in_process(args) == "0,0"


def test_a_stalled_smtp_server_fails_the_send_within_email_timeout(settings, stall_server):
    assert 0 < settings.EMAIL_TIMEOUT <= 5
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = stall_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 0.5

    started = time.monotonic()
    with pytest.raises((OSError, smtplib.SMTPException), match="timed out"):
        send_mail("Subject", "Body", "from@example.com", ["to@example.com"])

    assert time.monotonic() - started < 1.5
    assert stall_server.connections() == 1


@pytest.fixture
def stalled_stripe(settings, stall_server):
    settings.STRIPE_SECRET_KEY = "sk_test_stalled"
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{stall_server.port}"
    settings.STRIPE_WEB_TIMEOUT_SECONDS = 1.0
    settings.STRIPE_WEB_MAX_NETWORK_RETRIES = 1
    settings.STRIPE_TIMEOUT_SECONDS = 0.4
    settings.STRIPE_MAX_NETWORK_RETRIES = 2
    return stall_server


def test_stripe_in_a_web_request_gives_up_after_one_retry(stalled_stripe, declare_role):
    declare_role(WEB)

    started = time.monotonic()
    with pytest.raises(PaymentProviderUnavailable):
        gateway.payment_intent_retrieve(payment_intent_id="pi_stalled")
    elapsed = time.monotonic() - started

    assert stalled_stripe.connections() == 2  # the call and its one retry
    # Two timeouts, the library's 0.5 s backoff, and a margin for a loaded machine.
    assert 2 * 1.0 <= elapsed < 2 * 1.0 + 0.5 + 1.0


def test_stripe_in_a_worker_keeps_the_patient_profile(stalled_stripe, declare_role):
    declare_role(WORKER)

    with pytest.raises(PaymentProviderUnavailable):
        gateway.payment_intent_retrieve(payment_intent_id="pi_stalled")

    assert stalled_stripe.connections() == 3  # the call and its two retries


def test_a_request_waiting_on_stripe_holds_no_lock_that_others_need(
    signed_in, user, stalled_stripe, declare_role, settings
):
    """create-payment-intent stuck on a stalled Stripe: a PATCH of the same reservation and
    the same account's next booking answer at once, not after Stripe's timeout."""
    settings.STRIPE_WEB_TIMEOUT_SECONDS = 2.5
    declare_role(WEB)
    pending = ReservationFactory(
        spot=ParkingSpotFactory(time_limit_minutes=None),
        status="pending_payment",
        user=user,
        email=user.email,
        hold_expires_at=timezone.now() + timedelta(minutes=10),
    )
    token = signed_in.token
    waiting = {}

    def create_payment_intent() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        waiting["response"] = client.post(f"/create-payment-intent-auth/{pending.public_id}/")
        connection.close()

    thread = threading.Thread(target=create_payment_intent)
    thread.start()
    deadline = time.monotonic() + 5
    while not stalled_stripe.accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stalled_stripe.accepted, "the request reached Stripe"

    started = time.monotonic()
    patched = _patch_end(signed_in, pending)
    booked = signed_in.post(
        f"/reservation-auth/{ParkingSpotFactory().pk}/",
        {"reservation": {"reservation_length": 30}},
        format="json",
    )
    elapsed = time.monotonic() - started
    thread.join(timeout=15)

    assert (patched.status_code, booked.status_code) == (200, 201), booked.content
    assert elapsed < 2.0, "neither waited for the Stripe call"
    assert waiting["response"].status_code == 503


def test_a_postgresql_that_stops_answering_fails_each_wait_within_its_bound(settings, declare_role):
    """The server's statement_timeout cannot end a wait on a server that no longer answers;
    the web role's wait callback does, and fails fast while the server stays silent."""
    settings.DB_WEB_STATEMENT_TIMEOUT_MS = 1000
    declare_role(WEB)
    params = connection.get_connection_params()
    proxy = FaultProxy((params.get("host") or "127.0.0.1", int(params.get("port") or 5432)))
    try:
        raw = psycopg2.connect(**{**params, "host": "127.0.0.1", "port": proxy.port})
        proxy.stall()

        started = time.monotonic()
        with pytest.raises(psycopg2.OperationalError, match="did not answer within 2 s"):
            raw.cursor().execute("SELECT 1")
        first = time.monotonic() - started
        started = time.monotonic()
        with pytest.raises(psycopg2.OperationalError, match="did not answer within 1 s"):
            psycopg2.connect(**{**params, "host": "127.0.0.1", "port": proxy.port})
        second = time.monotonic() - started

        assert raw.closed, "a connection whose wait gave up is never reused"
        assert 2.0 <= first < 3.5 and 1.0 <= second < 2.5
        proxy.passing()
        declare_role(WEB)  # a thread's next connect after silence gets only a second
        answered = psycopg2.connect(**{**params, "host": "127.0.0.1", "port": proxy.port})
        cursor = answered.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
        answered.close()
    finally:
        proxy.close()
