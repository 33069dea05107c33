"""gunicorn as deployed (the deploy stack's api command, gunicorn.conf.py): the chosen worker,
gunicorn's own errors as JSON, and slow or stalled clients that leave /healthz answering."""

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.deploy.conftest import (
    VENV_BIN,
    compose_file,
    free_port,
    production_env,
    request,
    running,
    service_command,
    wait_until,
)

HOST = "127.0.0.1"
# Production settings redirect plain HTTP unless the proxy says the client used HTTPS.
THROUGH_PROXY = {"Host": "localhost", "X-Forwarded-Proto": "https"}


def healthz(port: int) -> int:
    return request(port, "/healthz", THROUGH_PROXY).status


def answers(port: int) -> bool:
    try:
        return healthz(port) == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, tmp_path_factory) -> Iterator[dict]:
    """The deploy stack's api command (2 workers) on a free loopback port."""
    port = free_port()
    env = production_env()
    argv = service_command(compose_file("docker-compose.deploy.yml"), "api", env)
    argv = [part.replace("0.0.0.0:8000", f"{HOST}:{port}") for part in argv]
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with running(argv, env, log) as process:
        wait_until(lambda: answers(port), 30, "gunicorn", process)
        yield {"port": port, "log": log}


def exchange(port: int, data: bytes) -> http.client.HTTPResponse:
    """Raw bytes out, the parsed answer back: requests no HTTP client library would send."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        response.body = response.read()
        return response


def test_the_configured_worker_serves_requests(gunicorn):
    response = request(gunicorn["port"], "/healthz", THROUGH_PROXY)

    assert response.status == 200
    assert json.loads(response.body) == {"status": "ok"}
    log = gunicorn["log"].read_text()
    assert "Using worker: secure_my_spot.gunicorn_workers.ThreadWorkerJsonErrors" in log


@pytest.mark.parametrize(
    ("data", "status", "detail"),
    [
        pytest.param(
            b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n",
            400,
            "Request Line is too large (5014 > 4094)",
            id="request line over the limit",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n",
            400,
            "Invalid HTTP header name: 'Bad Header'",
            id="malformed header",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
            431,
            "Error parsing headers: 'limit request headers fields'",
            id="too many headers",
        ),
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX<&>: y\r\n\r\n",
            400,
            "Invalid HTTP header name: 'X<&>'",
            id="markup in the message, as sent (gunicorn's page escapes it)",
        ),
    ],
)
def test_gunicorns_own_errors_are_json(gunicorn, data, status, detail):
    response = exchange(gunicorn["port"], data)

    assert response.status == status
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(response.body) == {"detail": detail}


class Trickler:
    """Connections sending a request's headers a byte every 0.2 s, never finishing."""

    def __init__(self, port: int, count: int) -> None:
        self.socks = [socket.create_connection((HOST, port), timeout=5) for _ in range(count)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 1000:
            if self._stop.wait(0.2):
                return
            for sock in self.socks:
                sock.send(bytes([byte]))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for sock in self.socks:
            sock.close()


def test_slow_clients_leave_healthz_answering(gunicorn):
    """Three never-ending requests hold at most three of a worker's four threads (each sync
    worker would be held whole: two suffice to stop it)."""
    port = gunicorn["port"]
    trickler = Trickler(port, 3)
    try:
        time.sleep(1)  # their first bytes are in: each holds a thread
        for _ in range(5):
            started = time.monotonic()
            assert healthz(port) == 200
            assert time.monotonic() - started < 2
    finally:
        trickler.close()


def test_a_client_that_stalls_mid_request_frees_its_thread_after_timeout(django_db_setup, tmp_path):
    """gthread blocks on a client's socket with no limit; the worker bounds it by `timeout`.
    One worker with one thread: /healthz waits behind the stalled client, then answers."""
    port = free_port()
    argv = [str(VENV_BIN / "gunicorn"), "secure_my_spot.wsgi", "--bind", f"{HOST}:{port}"]
    argv += ["--workers", "1", "--threads", "1", "--timeout", "2"]
    with running(argv, production_env(), tmp_path / "gunicorn.log") as process:
        wait_until(lambda: answers(port), 30, "gunicorn", process)
        with socket.create_connection((HOST, port), timeout=15) as stalled:
            stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: loc")
            time.sleep(0.5)  # the worker's only thread is reading it
            started = time.monotonic()

            assert healthz(port) == 200
            waited = time.monotonic() - started
            assert stalled.recv(1024) == b""  # closed by the server, nothing sent

        assert 1 < waited < 10
