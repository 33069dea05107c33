"""Fixtures over real Celery processes (testing/processes.py): a worker and beat on the real
RabbitMQ and Redis, the test database, localstripe, and a real SMTP server (testing/mail.py).

Registered from tests/conftest.py. The session has a queue of its own, purged before and after
each test that starts workers, so a killed worker's messages cannot leak into another test.
"""

import json
import os
from collections.abc import Iterator

import pytest
from django.db import connection

from secure_my_spot.celery import app as celery_app
from testing.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe
from testing.mail import Mailbox, running_smtp_server
from testing.processes import CeleryProcesses, declare_and_purge


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def mailbox(smtp_server) -> Mailbox:
    _, box = smtp_server
    box.clear()
    return box


@pytest.fixture(scope="session", autouse=True)
def _test_queue() -> Iterator[str]:
    """The session's own queue (see settings/test.py): created on first use, deleted at the end."""
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
    declare_and_purge(_test_queue)
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
        "DJANGO_SETTINGS_MODULE": "secure_my_spot.settings.test",
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
    declare_and_purge(_test_queue)
    processes = CeleryProcesses(env, _test_queue)
    try:
        yield processes
    finally:
        processes.stop_all()
        declare_and_purge(_test_queue)
