"""Prometheus metrics: the objects every process increments, and the protected `/metrics` view.

Under gunicorn (and any Celery process on the same host) PROMETHEUS_MULTIPROC_DIR names a
directory where each process writes its counts; the view adds them up at scrape time and
gunicorn.conf.py's child_exit marks dead workers. Without it (runserver, tests) the counts
live in this process's default registry.

Apps increment through the one-line functions below, after commit, so a rolled-back booking
or charge counts nothing. Figures read from the database or the broker at scrape time
(due-work lag, queue depth) are registered by the app that knows them (`scrape_time_add`):
this module knows no app.
"""

import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "smspot"
# Seconds: the spot routes answer in a few milliseconds, a booking with Stripe in hundreds.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to answer a request, by URL name (never the raw path), method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
BOOKINGS = Counter(
    f"{PREFIX}_bookings_created", "Reservations created (held for payment).", ["holder"]
)
CHARGES = Counter(f"{PREFIX}_charges", "Charges whose outcome Stripe settled.", ["outcome"])
REFUNDS = Counter(f"{PREFIX}_refunds", "Refunds whose outcome Stripe settled.", ["outcome"])
# Kept by the push process (daphne), which serves its own /metrics (README "Observability").
PUSH_SUBSCRIBERS = Gauge(
    f"{PREFIX}_push_subscribers",
    "Open WebSocket and Server-Sent Events subscriptions.",
    multiprocess_mode="livesum",
)

# A bounded set of method labels: anything else a client invents is "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
OUTCOMES = frozenset({"succeeded", "failed", "canceled"})


def request_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(
        route, method if method in METHODS else "other", f"{status // 100}xx"
    ).observe(seconds)


def booking_created(*, guest: bool) -> None:
    transaction.on_commit(BOOKINGS.labels("guest" if guest else "account").inc)


def charge_settled(*, state: str) -> None:
    """A payment's new state; a pending one has no outcome yet."""
    if state in OUTCOMES:
        transaction.on_commit(CHARGES.labels(state).inc)


def refund_settled(*, state: str) -> None:
    if state in OUTCOMES:
        transaction.on_commit(REFUNDS.labels(state).inc)


# name, help, and a function answering the value now (None when it cannot be had).
_SCRAPE_TIME: dict[str, tuple[str, Callable[[], float | None]]] = {}


def scrape_time_add(*, name: str, documentation: str, read: Callable[[], float | None]) -> None:
    """A gauge computed when Prometheus scrapes, by the app that knows how (AppConfig.ready)."""
    _SCRAPE_TIME[f"{PREFIX}_{name}"] = (documentation, read)


def metric_names() -> set[str]:
    """Every series name a scrape can show (the dashboard's test checks its queries)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    names = set(_SCRAPE_TIME)
    for metric in (REQUEST_LATENCY, BOOKINGS, CHARGES, REFUNDS, PUSH_SUBSCRIBERS):
        for family in metric.describe():
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


class _ScrapeTimeCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (documentation, read) in _SCRAPE_TIME.items():
            try:
                value = read()
            except Exception as exc:
                # A stalled or absent dependency costs its figure, never the scrape.
                logger.warning("Metric %s could not be read: %r", name, exc)
                continue
            if value is not None:
                yield GaugeMetricFamily(name, documentation, value=value)


def registry(*, scrape_time: bool = True) -> CollectorRegistry:
    """Every process's counts (multiprocess mode) or this one's, and the scrape-time gauges."""
    scraped = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scraped)
    else:
        scraped.register(_ThisProcess())
    if scrape_time:
        scraped.register(_ScrapeTimeCollector())
    return scraped


class _ThisProcess(Collector):
    def collect(self) -> Iterator:
        return REGISTRY.collect()


def _bearer_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _authorized(request: HttpRequest, token: str) -> bool:
    return _bearer_matches(request.headers.get("Authorization", ""), token)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """404 while METRICS_TOKEN is unset, 401 without its bearer token (compared in constant
    time); never served through the public nginx (README "Observability")."""
    token = settings.METRICS_TOKEN
    if not token:
        return JsonResponse({"detail": "Not found."}, status=404)
    if not _authorized(request, token):
        response = JsonResponse({"detail": "A valid bearer token is required."}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


def worker_metrics_serve(*, port: int) -> threading.Thread | None:
    """A Celery worker's counts (the end-of-stay charges and their failures are counted
    there) on a port of its own, in a daemon thread: only gunicorn serves /metrics.

    With the threads pool every task runs in this process, so its default registry holds
    them all; a prefork worker's children count in PROMETHEUS_MULTIPROC_DIR, which the
    registry then reads. The scrape-time gauges stay the web's (each scrape would query the
    database and the broker once per worker). Same bearer token as /metrics; none is
    served without one. Every interface, as gunicorn's port in a container.
    """
    token = settings.METRICS_TOKEN
    if not token:
        logger.warning("WORKER_METRICS_PORT is set but METRICS_TOKEN is not: no metrics served")
        return None
    exposition = make_wsgi_app(registry(scrape_time=False))

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        if not _bearer_matches(environ.get("HTTP_AUTHORIZATION", ""), token):
            start_response("401 Unauthorized", [("WWW-Authenticate", "Bearer")])
            return [b"A valid bearer token is required.\n"]
        return exposition(environ, start_response)

    server = make_server("0.0.0.0", port, app, handler_class=_QuietHandler)  # noqa: S104
    thread = threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True)
    thread.start()
    return thread


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds are not worth a log line each."""


class MetricsMiddleware:
    """Times every request; the label is the resolved URL name, so ids in paths never make
    new series. First in MIDDLEWARE, so the time includes every other middleware."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        request_observe(
            route=(match.view_name if match is not None else UNMATCHED) or UNMATCHED,
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response
