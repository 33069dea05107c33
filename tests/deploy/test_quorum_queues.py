"""CELERY_QUORUM_QUEUES=true: tasks (a countdown too) round-trip through the real RabbitMQ on a
queue that really is a quorum queue. Off, nothing changes (the rest of the suite)."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection

from secure_my_spot.celery import app as celery_app
from testing.localstripe import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET
from testing.processes import ROOT, CeleryProcesses

COUNTDOWN_SECONDS = 2
# Celery's native delayed delivery: vhost-wide, declared by the first worker that sees a quorum
# queue, and nothing else here uses them.
DELAYED_LEVELS = range(28)
DELAYED_DELIVERY_EXCHANGE = "celery_delayed_delivery"

# Sends one task now and one with a countdown through the app configured by the environment,
# and prints what came back and how long each took.
PRODUCER = f"""
import json, time, django
django.setup()
from secure_my_spot.celery import app
started = time.monotonic()
# Results are not written unless the caller reads them (settings: task_ignore_result).
now = app.send_task("celery.accumulate", args=["now"], ignore_result=False)
later = app.send_task(
    "celery.accumulate", args=["later"], countdown={COUNTDOWN_SECONDS}, ignore_result=False
)
answers = {{"now": now.get(timeout=30)}}
answers["now_seconds"] = time.monotonic() - started
answers["later"] = later.get(timeout=60)
answers["later_seconds"] = time.monotonic() - started
print(json.dumps(answers))
"""


@pytest.fixture
def quorum_env() -> Iterator[dict[str, str]]:
    queue = f"test-quorum-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "secure_my_spot.settings.test",
        "CELERY_QUORUM_QUEUES": "true",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        # The worker's start-up checks want production-shaped mail and Stripe settings; this
        # test sends no mail and makes no charge.
        "TEST_SMTP_URL": "smtp://127.0.0.1:1",
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    try:
        yield env
    finally:
        with broker() as conn:
            channel = conn.channel()
            channel.queue_delete(queue)
            channel.exchange_delete(queue)
            for level in DELAYED_LEVELS:
                channel.queue_delete(f"celery_delayed_{level}")
                channel.exchange_delete(f"celery_delayed_{level}")
            channel.exchange_delete(DELAYED_DELIVERY_EXCHANGE)


def broker() -> Connection:
    return Connection(celery_app.conf.broker_url, connect_timeout=5)


def declare(queue: str, queue_type: str) -> None:
    """Declare `queue` durable with that type, on a channel of its own (a refusal closes it)."""
    with broker() as conn:
        channel = conn.channel()
        channel.queue_declare(
            queue, durable=True, auto_delete=False, arguments={"x-queue-type": queue_type}
        )


def test_tasks_round_trip_on_a_quorum_queue(quorum_env):
    queue = quorum_env["CELERY_TASK_DEFAULT_QUEUE"]
    processes = CeleryProcesses(quorum_env, queue)
    try:
        processes.worker("quorum")
        produced = subprocess.run(
            [sys.executable, "-c", PRODUCER],
            env=quorum_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        processes.stop_all()
    assert produced.returncode == 0, produced.stderr
    answers = json.loads(produced.stdout.splitlines()[-1])
    assert answers["now"] == ["now"]
    assert answers["later"] == ["later"]
    # The countdown waited in the broker's delay queues, not in the worker.
    assert answers["later_seconds"] >= COUNTDOWN_SECONDS
    log = processes.log("quorum")
    assert "Global QoS is disabled" in log
    assert "Direct exchanges are not supported" not in log + produced.stderr

    # The queue is a quorum queue: RabbitMQ accepts it redeclared as one and refuses it as a
    # classic queue (inequivalent x-queue-type), which it would accept were it classic.
    declare(queue, "quorum")
    with pytest.raises(PreconditionFailed, match="x-queue-type"):
        declare(queue, "classic")


def test_off_by_default_nothing_changes():
    """The existing broker's classic queue and direct exchange are declared as before (a
    different type would be refused by RabbitMQ on every existing deployment)."""
    conf = celery_app.conf
    assert (conf.task_default_queue_type, conf.task_create_missing_queue_type) == (
        "classic",
        "classic",
    )
    assert conf.task_default_exchange_type == "direct"
    queue = celery_app.amqp.queues[conf.task_default_queue]
    assert "x-queue-type" not in (queue.queue_arguments or {})
