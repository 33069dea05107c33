"""PostgreSQL restarting under a running service: real gunicorn, publisher and Celery processes
reach the test database through a relay that can cut every connection and refuse new ones
(a restart) and come back on the same port; `pg_terminate_backend` cuts connections the way a
restart's shutdown does, without touching the shared server.

During the outage requests answer a JSON 503 with Retry-After, never a 500 or HTML; after it
the same processes answer, publish and work again, and nothing accepted before is lost.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from contextlib import suppress
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection, transaction
from django.test import RequestFactory
from django.utils import timezone

from availability.publisher import LOCK_KEY
from parking_spots.models import ParkingSpot
from reservations.models import Reservation, ReservationStatus
from secure_my_spot.api import server_error
from secure_my_spot.asgi import application
from testing.factories import PASSWORD, ParkingSpotFactory, ReservationFactory
from testing.net import free_port, wait_until
from testing.processes import running
from tests.availability.conftest import INSIDE, VIEWPORT
from tests.deploy.conftest import REPO, VENV_BIN, answers

RESPAWN = str(REPO / "bin" / "respawn")
# However long the publisher's backoff has grown during a short outage, it is back by then.
RECOVERY_SECONDS = 30


class DatabaseProxy:
    """A TCP relay to PostgreSQL. `stop()` is a restart's outage: live connections are cut
    and new ones refused; `start()` listens again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self.start()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.05)
        self._listening = threading.Event()
        self._listening.set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._listening.clear()
        self._thread.join()
        self._listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while self._listening.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._pairs.append((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_relay, args=(source, sink), daemon=True).start()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction; at its end both directions end, as a dropped connection does."""
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for sock in (source, sink):
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    source.close()


@pytest.fixture
def database_proxy(transactional_db):
    db = connection.settings_dict
    proxy = DatabaseProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    yield proxy
    proxy.stop()


def process_env(proxy: DatabaseProxy, **extra: str) -> dict[str, str]:
    """The test settings with the database behind the relay; connection reuse and health
    checks at the settings' defaults, as every process runs them."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    env = {k: v for k, v in os.environ.items() if k not in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    env.update(
        DJANGO_SETTINGS_MODULE="secure_my_spot.settings.test",
        DATABASE_URL=f"postgres://{db['USER']}{password}@127.0.0.1:{proxy.port}/{db['NAME']}",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def terminate_backends() -> int:
    """Every other session on the test database ends, as in a restart's shutdown."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _first(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
    return row[0] if row else None


# --- Web ----------------------------------------------------------------------------------


@pytest.fixture
def web(database_proxy, tmp_path):
    """gunicorn with one worker (every request meets the same process and connection) and
    DEBUG on, as `make run` starts it: an unmapped error would be Django's HTML page."""
    port = free_port()
    env = process_env(
        database_proxy,
        DEBUG="true",
        # Long enough that a request can be caught waiting on a lock on a loaded machine.
        DB_WEB_LOCK_TIMEOUT_MS="20000",
        DB_WEB_STATEMENT_TIMEOUT_MS="25000",
    )
    argv = [str(VENV_BIN / "gunicorn"), "secure_my_spot.wsgi"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with running(argv, env, tmp_path / "gunicorn.log") as process:
        wait_until(lambda: answers(port, "/healthz"), 30, "gunicorn", process)
        process.port = port
        yield process


def first_worker_still_serving(web: subprocess.Popen) -> bool:
    """gunicorn alive with the worker it booted: nothing was restarted to recover."""
    return web.poll() is None and web.log.read_text().count("Booting worker") == 1


def call(
    port: int, method: str, path: str, body: dict | None = None, **headers: str
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body)
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        response.body = response.read()
        return response
    finally:
        conn.close()


def assert_unavailable(response: http.client.HTTPResponse) -> None:
    assert response.status == 503, response.body[:300]
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.body)["detail"]
    assert int(response.getheader("Retry-After")) > 0


@pytest.fixture
def signed_in_reservation(web, user):
    """An active reservation of `user`, and the token the real sign-in route gave."""
    signed = call(
        web.port, "POST", "/sign-in/", {"credentials": {"email": user.email, "password": PASSWORD}}
    )
    assert signed.status == 201, signed.body
    spot = ParkingSpotFactory(time_limit_minutes=None)
    reservation = ReservationFactory(spot=spot, status="active", user=user, email=user.email)
    return reservation, f"Token {json.loads(signed.body)['token']}"


def patch_end(port: int, reservation: Reservation, token: str) -> http.client.HTTPResponse:
    new_end = (reservation.end_time + timedelta(minutes=30)).isoformat()
    path = f"/update-reservation-auth/{reservation.public_id}/"
    return call(port, "PATCH", path, {"reservation": {"end_time": new_end}}, Authorization=token)


def test_connections_cut_between_requests_are_replaced_unnoticed(web):
    ParkingSpotFactory()
    assert call(web.port, "GET", "/available-parking-spots/").status == 200

    assert terminate_backends() >= 1

    # The health check finds the dead connection before the request uses it.
    assert call(web.port, "GET", "/available-parking-spots/").status == 200
    assert call(web.port, "GET", "/readyz").status == 200
    assert first_worker_still_serving(web)


def test_a_connection_cut_mid_request_is_a_503_and_then_discarded(web, signed_in_reservation):
    reservation, token = signed_in_reservation
    answer = {}
    with transaction.atomic():
        Reservation.objects.select_for_update().get(pk=reservation.pk)
        waiting = threading.Thread(
            target=lambda: answer.update(response=patch_end(web.port, reservation, token))
        )
        waiting.start()
        # The request's connection, caught waiting for the row this transaction holds.
        wait_until(
            lambda: _first(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ),
            10,
            "the request waiting on the row lock",
        )
        assert terminate_backends() >= 1
    waiting.join(timeout=30)

    assert_unavailable(answer["response"])
    before = reservation.end_time
    reservation.refresh_from_db()
    assert reservation.end_time == before  # nothing half done
    # The same worker, on a new connection: the broken one was not handed to this request.
    assert patch_end(web.port, reservation, token).status == 200
    assert first_worker_still_serving(web)


def test_during_an_outage_every_database_route_is_a_json_503_and_after_it_all_answer(
    web, database_proxy, signed_in_reservation
):
    reservation, token = signed_in_reservation
    guest = ReservationFactory(spot=ParkingSpotFactory(), email="guest@example.com")
    guest_path = f"/reservation-unauth/{guest.public_id}/guest@example.com/"
    admin = {"Cookie": "sessionid=abcdefghijklmnopqrstuvwxyz012345"}  # read from the database
    assert call(web.port, "GET", guest_path).status == 200

    database_proxy.stop()
    try:
        assert_unavailable(call(web.port, "GET", "/available-parking-spots/"))
        assert_unavailable(call(web.port, "GET", guest_path))
        assert_unavailable(patch_end(web.port, reservation, token))
        assert_unavailable(call(web.port, "GET", "/admin/", **admin))  # a plain Django view
        ready = call(web.port, "GET", "/readyz")
        assert ready.status == 503 and json.loads(ready.body)["checks"]["database"] == "unavailable"
        assert call(web.port, "GET", "/healthz").status == 200  # the process itself is fine
    finally:
        database_proxy.start()

    assert call(web.port, "GET", "/available-parking-spots/").status == 200
    assert call(web.port, "GET", guest_path).status == 200
    assert patch_end(web.port, reservation, token).status == 200
    assert call(web.port, "GET", "/admin/", **admin).status == 302  # to the login page
    assert call(web.port, "GET", "/readyz").status == 200
    assert first_worker_still_serving(web)


def test_an_outage_met_outside_any_view_is_the_same_json_503(transactional_db):
    """Django's 500 handler (a middleware's query, with DEBUG off) maps it as the views do."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    try:
        with connection.wrap_database_errors:  # as Django connects
            connection.get_new_connection(
                {**connection.get_connection_params(), "port": closed_port}
            )
    except OperationalError:
        response = server_error(RequestFactory().get("/"))  # Django calls it while handling
    else:
        pytest.fail("connected to a closed port")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["detail"]
    assert int(response["Retry-After"]) > 0


# --- Publisher ------------------------------------------------------------------------------


def _publisher_pid() -> int | None:
    """The session holding the publisher's advisory lock on the test database, if any."""
    return _first(
        "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
        " WHERE d.datname = current_database() AND l.locktype = 'advisory'"
        " AND l.granted AND l.classid = 0 AND l.objid = %s",
        [LOCK_KEY],
    )


def test_the_publisher_outlives_restarts_and_publishes_what_changed_meanwhile(
    database_proxy, tmp_path
):
    spot = ParkingSpotFactory(**INSIDE)
    argv = [sys.executable, "manage.py", "publish_availability"]
    with running(argv, process_env(database_proxy), tmp_path / "publisher.log") as publisher:
        wait_until(_publisher_pid, 30, "the publisher listening", publisher)

        async def flip(active: bool) -> None:
            await sync_to_async(ParkingSpot.objects.filter(pk=spot.pk).update)(active=active)

        async def next_delta(socket: WebsocketCommunicator) -> tuple[int, bool]:
            message = await socket.receive_json_from(RECOVERY_SECONDS)
            assert message["type"] == "delta"
            return message["spot_id"], message["available"]

        async def scenario() -> None:
            socket = WebsocketCommunicator(application, f"/ws/availability/?bbox={VIEWPORT}")
            assert (await socket.connect())[0]
            assert (await socket.receive_json_from(5))["type"] == "snapshot"

            await flip(False)
            assert await next_delta(socket) == (spot.pk, False)

            # A restart's shutdown: the publisher's session ends; it comes back by itself.
            first = await sync_to_async(_publisher_pid)()
            assert await sync_to_async(terminate_backends)() >= 1
            await flip(True)
            assert await next_delta(socket) == (spot.pk, True)
            assert await sync_to_async(_publisher_pid)() not in (None, first)

            # An outage: a change made meanwhile notifies nobody, and is published once the
            # publisher is back and compares every spot.
            await sync_to_async(database_proxy.stop)()
            await sync_to_async(wait_until)(lambda: _publisher_pid() is None, 10, "lock freed")
            await flip(False)
            assert await socket.receive_nothing(1.5)
            await sync_to_async(database_proxy.start)()
            assert await next_delta(socket) == (spot.pk, False)
            await socket.disconnect()

        async_to_sync(scenario)()
        assert publisher.poll() is None
    log = publisher.log.read_text()
    said = [
        (line["level"], line["message"])
        for line in map(json.loads, filter(None, log.splitlines()))  # production's JSON lines
        if line["logger"] == "availability.publisher"
    ]
    # Once per outage at WARNING, whatever the number of attempts, and once on recovery.
    lost = [m for level, m in said if level == "WARNING" and m.startswith("Publisher lost its")]
    back = [m for level, m in said if level == "INFO" and m.startswith("Publisher reconnected")]
    assert (len(lost), len(back)) == (2, 2), log
    assert "Traceback" not in log


# --- Celery ---------------------------------------------------------------------------------


def test_workers_outlive_an_outage_and_then_do_the_work_accepted_before(
    celery_processes, database_proxy
):
    celery_processes.env["DATABASE_URL"] = process_env(database_proxy)["DATABASE_URL"]
    worker = celery_processes.worker()
    beat = celery_processes.beat()

    database_proxy.stop()
    try:
        now = timezone.now()
        stale_hold = ReservationFactory(
            status=ReservationStatus.PENDING_PAYMENT,
            start_time=now - timedelta(minutes=12),
            hold_expires_at=now - timedelta(minutes=2),
        )
        # The beat's sweeps reach the worker, and fail there: the work stays in the database.
        wait_until(
            lambda: "OperationalError" in celery_processes.log("w1"),
            RECOVERY_SECONDS,
            "a sweep failing in the worker",
            worker,
        )
        stale_hold.refresh_from_db()
        assert stale_hold.status == ReservationStatus.PENDING_PAYMENT
    finally:
        database_proxy.start()

    def cancelled() -> bool:
        stale_hold.refresh_from_db()
        return stale_hold.status == ReservationStatus.CANCELLED

    wait_until(cancelled, RECOVERY_SECONDS, "the hold cancelled", worker)
    assert worker.poll() is None and beat.poll() is None


# --- bin/respawn and honcho -----------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_respawn_starts_a_command_again_and_stops_it_on_a_signal(tmp_path, stop_signal):
    starts = tmp_path / "starts"
    # Exits at once twice, then stays up (as the same process, for the pid check).
    command = f'echo $$ >> {starts}; [ "$(wc -l < {starts})" -ge 3 ] && exec sleep 60; exit 3'
    respawn = subprocess.Popen(  # noqa: S603 - the project's own script
        [RESPAWN, "sh", "-c", command], stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: starts.exists() and len(starts.read_text().split()) == 3, 30, "starts")
        respawn.send_signal(stop_signal)
        respawn.wait(timeout=10)
    finally:
        if respawn.poll() is None:
            respawn.kill()
    pids = [int(pid) for pid in starts.read_text().split()]
    assert len(pids) == 3  # not started again once told to stop
    assert not _alive(pids[-1])
    assert respawn.returncode == 128 + signal.SIGTERM  # the command's status: it got SIGTERM
    said = respawn.stderr.read().decode()
    assert said.count("sh exited with status 3; starting it again in") == 2
    # Waits grow while the command keeps failing: 1 s, then 2 s.
    assert "again in 1 s" in said and "again in 2 s" in said


def test_under_honcho_one_process_exiting_leaves_the_others_running(tmp_path):
    """`make run`'s arrangement (Procfile lines under bin/respawn): a process that exits is
    started again, the others keep running, and honcho's stop (Ctrl-C) still stops all."""
    steady, flaky = tmp_path / "steady", tmp_path / "flaky"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"steady: {RESPAWN} sh -c 'echo $$ >> {steady}; exec sleep 120'\n"
        f"flaky: {RESPAWN} sh -c 'echo $$ >> {flaky}; sleep 0.2; exit 1'\n"
    )
    honcho = subprocess.Popen(  # noqa: S603 - our own venv's honcho
        [str(VENV_BIN / "honcho"), "--procfile", str(procfile), "start"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(lambda: flaky.exists() and len(flaky.read_text().split()) >= 3, 30, "restarts")
        assert honcho.poll() is None
        (steady_pid,) = [int(pid) for pid in steady.read_text().split()]  # never restarted
        assert _alive(steady_pid)
        honcho.send_signal(signal.SIGINT)
        output = honcho.communicate(timeout=20)[0].decode()
    finally:
        if honcho.poll() is None:
            honcho.kill()
    assert output.count("steady.1 started") == 1 and output.count("flaky.1 started") == 1
    assert "sending SIGTERM to steady.1" in output
    pids = [steady_pid, *(int(pid) for pid in flaky.read_text().split())]
    wait_until(lambda: not any(_alive(pid) for pid in pids), 10, "every process stopped")
