"""The real service with each dependency behind its own FaultProxy (tests/faults/proxy.py).

gunicorn runs the deploy stack's api command (so gunicorn.conf.py, and the web role that
secure_my_spot/wsgi.py declares), a Celery worker and beat run as testing/processes.py starts
them; all three with the deploy stack's production settings (tests/deploy/conftest.py) and
their PostgreSQL, Redis, Stripe (localstripe) and SMTP (aiosmtpd) reached through the proxies.
RabbitMQ and the Celery result backend are reached directly. The stack lives for the
package; each test's data is its own (transactional_db), and every proxy passes again after
each test.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection

from testing.localstripe import CARD_OK, PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET, LocalStripe
from testing.net import free_port, wait_until
from testing.processes import CeleryProcesses, running
from tests.deploy.conftest import answers, compose_file, production_env, service_command
from tests.faults.proxy import FaultProxy

DEPENDENCIES = ("stripe", "smtp", "redis", "postgres")
# What nginx adds in production: without it, production settings redirect to HTTPS.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


@dataclass
class Service:
    base_url: str
    proxies: dict[str, FaultProxy]
    gunicorn_log: str
    celery: CeleryProcesses

    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        return requests.request(
            method,
            self.base_url + path,
            json=json,
            headers={**PROXY_HEADERS, **(headers or {})},
            timeout=timeout,
            allow_redirects=False,
        )

    def logs(self, characters: int = 2000) -> str:
        """The end of each process's log, for a failure's message."""
        with open(self.gunicorn_log, errors="replace") as log:
            gunicorn = log.read()[-characters:]
        worker = self.celery.log("w1")[-characters:]
        return f"--- gunicorn:\n{gunicorn}\n--- Celery worker:\n{worker}"


def _target(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


@pytest.fixture(scope="package")
def service(
    django_db_setup, localstripe: LocalStripe, smtp_server, _test_queue, tmp_path_factory
) -> Iterator[Service]:
    smtp_url, _ = smtp_server
    db = connection.settings_dict
    redis = urlsplit(settings.REDIS_URL)
    proxies = {
        "postgres": FaultProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))),
        "redis": FaultProxy(_target(settings.REDIS_URL, 6379)),
        "stripe": FaultProxy(_target(localstripe.base_url, 80)),
        "smtp": FaultProxy(_target(smtp_url, 25)),
    }
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    env = production_env(
        DATABASE_URL=(
            f"postgres://{db['USER']}{password}@127.0.0.1:{proxies['postgres'].port}/{db['NAME']}"
        ),
        REDIS_URL=f"redis://127.0.0.1:{proxies['redis'].port}{redis.path}",
        EMAIL_URL=f"smtp://127.0.0.1:{proxies['smtp'].port}",
        STRIPE_API_BASE=f"http://127.0.0.1:{proxies['stripe'].port}",
        STRIPE_SECRET_KEY=SECRET_KEY,
        STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        CELERY_TASK_DEFAULT_QUEUE=_test_queue,
        # The workers' (not the web's) Stripe profile, shortened so that a charge that met
        # the stall is retried within the test; the web keeps the production one it is
        # checked against.
        STRIPE_TIMEOUT_SECONDS="3",
        STRIPE_MAX_NETWORK_RETRIES="0",
        # Due work and unsent mail found within a second; a claim outlives the longest send
        # or charge a stall makes a worker wait (EMAIL_TIMEOUT 5 s, the Stripe call above).
        DUE_WORK_INTERVAL_SECONDS="1",
        DUE_WORK_CLAIM_TIMEOUT_SECONDS="15",
        # A send that met the stall is tried again soon after the mail server is back.
        OUTBOX_RETRY_FIRST_SECONDS="2",
        # Every test books from this one address; the throttle is not what is tested here.
        THROTTLE_GUEST_RATE="1000/minute",
        PYTHONUNBUFFERED="1",
    )
    # As many gunicorn workers as the deploy stack's own default.
    env.pop("WEB_CONCURRENCY")
    port = free_port()
    argv = service_command(compose_file("docker-compose.deploy.yml"), "api", env)
    argv = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in argv]
    log = tmp_path_factory.mktemp("faults") / "gunicorn.log"
    celery = CeleryProcesses(env, _test_queue)
    try:
        with running(argv, env, log) as gunicorn:
            wait_until(lambda: answers(port, "/healthz", PROXY_HEADERS), 30, "gunicorn", gunicorn)
            celery.worker(concurrency=2)
            celery.beat()
            yield Service(f"http://127.0.0.1:{port}", proxies, str(log), celery)
    finally:
        celery.stop_all()
        for proxy in proxies.values():
            proxy.close()


@pytest.fixture
def stack(service: Service, transactional_db, mailbox) -> Iterator[Service]:
    """The service, for a test whose committed data it sees; every proxy passes afterwards
    (stalled connections closed).

    While the test's data is flushed the service is cut off from PostgreSQL: a worker or
    beat holding a row lock would deadlock with the flush's TRUNCATE.
    """
    for proxy in service.proxies.values():
        proxy.passing()
    yield service
    for proxy in service.proxies.values():
        proxy.passing()
    service.proxies["postgres"].refuse()
    service.proxies["postgres"].drop()


class Guest:
    """A driver without an account, using the public routes through the real server."""

    def __init__(self, service: Service, localstripe: LocalStripe) -> None:
        self.service = service
        self.localstripe = localstripe
        self.email = f"fault-{uuid.uuid4().hex[:12]}@example.com"

    def book(
        self, spot_id: int, *, idempotency_key: str | None = None, timeout: float = 10
    ) -> requests.Response:
        return self.service.request(
            "POST",
            f"/reservation-unauth/{spot_id}/",
            json={"reservation": {"email": self.email, "reservation_length": 60}},
            headers={"Idempotency-Key": idempotency_key} if idempotency_key else None,
            timeout=timeout,
        )

    def save_card(self, reservation_id: str) -> None:
        """The SetupIntent from the service, the card confirmed in the browser (Stripe.js)."""
        intent = self.service.request(
            "POST", f"/create-payment-intent-unauth/{reservation_id}/{self.email}/"
        )
        assert intent.status_code == 201, intent.text
        setup = self.localstripe.confirm_card_setup(intent.json()["clientSecret"], CARD_OK)
        assert setup["status"] == "succeeded", setup

    def confirm(self, reservation_id: str, *, timeout: float = 10) -> requests.Response:
        return self.service.request(
            "GET",
            f"/confirm-successful-setup-intent-unauth/{reservation_id}/{self.email}/",
            timeout=timeout,
        )

    def end_now(self, reservation_id: str, *, timeout: float = 10) -> requests.Response:
        return self.service.request(
            "PATCH",
            f"/update-reservation-unauth/{reservation_id}/{self.email}/",
            json={"reservation": {"end_time": None}},
            timeout=timeout,
        )

    def booked(self, spot_id: int) -> str:
        response = self.book(spot_id)
        assert response.status_code == 201, response.text
        return response.json()["id"]


@pytest.fixture
def guest(stack: Service, localstripe: LocalStripe):
    """A new guest at each call."""
    return lambda: Guest(stack, localstripe)
