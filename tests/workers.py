"""Real Celery processes for end-to-end tests: a worker and beat on the real RabbitMQ and
Redis, the test database, localstripe, and a real SMTP server (aiosmtpd) that records mail.

Registered from tests/conftest.py. Each test gets its own queue, so a killed worker's
messages cannot leak into another test.
"""

import email
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from secure_my_spot.celery import app as celery_app
from tests.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe

CELERY = str(Path(sys.executable).parent / "celery")
LOG_DIR = Path(tempfile.gettempdir()) / "secure-my-spot-test-workers"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self._messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def messages(self, *, to: str | None = None, subject: str | None = None) -> list[Message]:
        with self._lock:
            found = list(self._messages)
        return [
            m
            for m in found
            if (to is None or to in m["To"]) and (subject is None or subject in m["Subject"])
        ]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server) -> Mailbox:
    _, box = smtp_server
    box.clear()
    return box


class CeleryProcesses:
    """Starts workers and a beat bound to one queue; stops whatever is left at teardown."""

    def __init__(self, env: dict[str, str], queue: str) -> None:
        self.env = env
        self.queue = queue
        self._procs: list[subprocess.Popen] = []

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        LOG_DIR.mkdir(exist_ok=True)
        log = (LOG_DIR / f"{self.queue}-{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - our own venv's celery
            [CELERY, "-A", "secure_my_spot", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def worker(self, name: str = "w1", *, concurrency: int = 1) -> subprocess.Popen:
        """A prefork worker; returns once it answers a ping, so work can be handed to it."""
        hostname = f"{name}-{self.queue}@localhost"
        proc = self._spawn(
            name,
            [
                "worker",
                "-Q",
                self.queue,
                "-n",
                hostname,
                "-c",
                str(concurrency),
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see {LOG_DIR}")
            if celery_app.control.ping(destination=[hostname], timeout=0.5):
                return proc
        raise RuntimeError(f"worker {hostname} did not answer within 30 s; see {LOG_DIR}")

    def beat(self) -> subprocess.Popen:
        schedule = Path(tempfile.mkdtemp()) / "beat-schedule"
        return self._spawn("beat", ["beat", "-l", "INFO", "--schedule", str(schedule)])

    def log(self, name: str) -> str:
        return (LOG_DIR / f"{self.queue}-{name}.log").read_text(errors="replace")

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL the whole process group: the worker's pool children die with it."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _declare_and_purge(queue: str) -> None:
    """Declared as Celery declares it, so it exists before anything is published to it."""
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=10, interval_start=0.2, interval_step=0.5)
        celery_app.amqp.queues[queue](conn.default_channel).declare()
        conn.default_channel.queue_purge(queue)


@pytest.fixture(scope="session", autouse=True)
def _test_queue() -> Iterator[str]:
    """The session's own queue (see test_settings): created on first use, deleted at the end."""
    queue = celery_app.conf.task_default_queue
    yield queue
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


class Enqueued:
    """Reads what the code under test published to the real broker, as (task, args) pairs."""

    def __init__(self, queue: str) -> None:
        self.queue = queue

    def drain(self) -> list[tuple[str, list]]:
        """The messages, oldest first; their ETAs (ISO strings, or None) land in `self.etas`."""
        found = []
        self.etas: dict[tuple[str, int], str | None] = {}
        with celery_app.connection_for_read() as conn:
            channel = conn.default_channel
            while (message := channel.basic_get(queue=self.queue, no_ack=True)) is not None:
                args, _kwargs, _embed = json.loads(message.body)
                found.append((message.headers["task"], args))
                self.etas[(message.headers["task"], args[0])] = message.headers.get("eta")
        return found


@pytest.fixture
def enqueued(_test_queue) -> Enqueued:
    _declare_and_purge(_test_queue)
    return Enqueued(_test_queue)


@pytest.fixture
def celery_processes(
    transactional_db, localstripe: LocalStripe, smtp_server, _test_queue
) -> Iterator[CeleryProcesses]:
    """Workers and beat that share this test's committed data and the session's queue."""
    smtp_url, _ = smtp_server
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "secure_my_spot.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CONN_MAX_AGE": "0",
        "CELERY_TASK_DEFAULT_QUEUE": _test_queue,
        "TEST_SMTP_URL": smtp_url,
        "STRIPE_API_BASE": localstripe.base_url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
        "DUE_WORK_INTERVAL_SECONDS": "1",
        "DUE_WORK_CLAIM_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    _declare_and_purge(_test_queue)
    processes = CeleryProcesses(env, _test_queue)
    try:
        yield processes
    finally:
        processes.stop_all()
        _declare_and_purge(_test_queue)


def wait_until(predicate: Callable[[], object], *, timeout: float, interval: float = 0.2):
    """Poll until `predicate()` is truthy; return its value or fail with the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")
