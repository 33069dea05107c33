"""What an operator sees: /metrics, request ids in logs (into the tasks a request enqueues),
JSON log lines, Sentry's scrubbing, and the Grafana dashboard's queries."""

import io
import json
import logging
import re
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from reservations.models import ReservationStatus
from secure_my_spot import metrics, request_id
from secure_my_spot.logging import JsonFormatter, MaskEmailsFilter
from secure_my_spot.sentry import before_send
from tasks.selectors import due_work_lag_seconds
from tasks.tasks import reservation_finish
from testing.factories import ParkingSpotFactory, ReservationFactory
from testing.net import wait_until
from tests.tasks.test_pipeline import Driver

TOKEN = "metrics-token-for-tests-only"
DASHBOARD = Path(__file__).resolve().parent.parent / "grafana" / "secure-my-spot.json"


def scrape(client: Client, token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", **headers)


def samples(body: bytes) -> list:
    return [s for family in text_string_to_metric_families(body.decode()) for s in family.samples]


def request_count(body: bytes, **labels: str) -> float:
    return sum(
        s.value
        for s in samples(body)
        if s.name == "smspot_http_request_duration_seconds_count"
        and all(s.labels.get(k) == v for k, v in labels.items())
    )


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_answer_404_while_no_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404


@pytest.mark.parametrize("given", [None, "wrong", TOKEN + "x", ""])
def test_metrics_need_the_bearer_token(client, settings, given):
    settings.METRICS_TOKEN = TOKEN
    response = scrape(client, given)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "smspot" not in response.content.decode()


@pytest.mark.django_db
def test_a_request_appears_by_its_route_name_never_its_path(client, settings):
    settings.METRICS_TOKEN = TOKEN
    spot = ParkingSpotFactory()
    before = scrape(client).content
    assert client.get(f"/quote/{spot.pk}/?reservation_length=60").status_code == 200
    assert client.get("/no-such-route/123").status_code == 404

    after = scrape(client)

    assert after.status_code == 200
    assert after["Content-Type"].startswith("text/plain")
    quote = {"route": "spot-quote", "method": "GET", "status": "2xx"}
    assert request_count(after.content, **quote) == request_count(before, **quote) + 1
    unmatched = {"route": "unmatched", "status": "4xx"}
    assert request_count(after.content, **unmatched) == request_count(before, **unmatched) + 1
    routes = {s.labels.get("route") for s in samples(after.content) if "route" in s.labels}
    assert not any(str(spot.pk) in route or "/" in route for route in routes)


@pytest.mark.django_db
def test_scrape_time_gauges_and_an_unreachable_broker_costs_only_its_figure(
    client, settings, monkeypatch, enqueued
):
    settings.METRICS_TOKEN = TOKEN
    reservation_finish.delay(1)
    found = {s.name: s.value for s in samples(scrape(client).content)}
    assert found["smspot_task_queue_messages"] == 1
    assert found["smspot_due_work_lag_seconds"] == 0

    monkeypatch.setattr("tasks.selectors.BROKER_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(
        "celery.current_app.conf.broker_url", "amqp://guest:guest@127.0.0.1:1//", raising=False
    )
    response = scrape(client)
    names = {s.name for s in samples(response.content)}
    assert response.status_code == 200
    assert "smspot_due_work_lag_seconds" in names
    assert "smspot_task_queue_messages" not in names


@pytest.mark.django_db
def test_due_work_lag_is_the_age_of_the_oldest_unclaimed_due_work():
    now = timezone.now()
    assert due_work_lag_seconds(now=now) == 0
    ReservationFactory(
        status=ReservationStatus.ACTIVE, start_time=now - timedelta(minutes=61), minutes=60
    )
    claimed = ReservationFactory(
        status=ReservationStatus.ACTIVE, start_time=now - timedelta(minutes=70), minutes=60
    )
    claimed.work_claimed_at = now
    claimed.save()

    assert 59 <= due_work_lag_seconds(now=now) <= 61


# --- request ids and log lines ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_request_id_is_taken_or_made_and_returned(client):
    given = client.get("/healthz", HTTP_X_REQUEST_ID="a1b2c3d4e5f6")
    assert given["X-Request-ID"] == "a1b2c3d4e5f6"
    made = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith a line break")
    assert re.fullmatch(r"[0-9a-f]{32}", made["X-Request-ID"])
    assert client.get("/healthz")["X-Request-ID"] != made["X-Request-ID"]


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(request_id.RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.django_db
def test_djangos_own_line_for_an_answer_names_the_request_and_the_next_does_not(client):
    """Django logs a 404 after the middleware returned: the id lasts until request_finished."""
    kept = _Kept()
    logging.getLogger("django.request").addHandler(kept)
    try:
        client.get("/no-such-route/", HTTP_X_REQUEST_ID="rid-404")
        logging.getLogger("django.request").warning("between requests")
    finally:
        logging.getLogger("django.request").removeHandler(kept)

    assert [(r.getMessage(), r.request_id) for r in kept.records] == [
        ("Not Found: /no-such-route/", "rid-404"),
        ("between requests", "-"),
    ]


def _json_line(record: logging.LogRecord) -> dict:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    configured = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    handler.setFormatter(JsonFormatter(**configured))
    handler.addFilter(MaskEmailsFilter())
    handler.addFilter(request_id.RequestIdFilter())
    handler.handle(record)
    return json.loads(stream.getvalue())


def test_json_lines_carry_the_request_id_and_mask_e_mails():
    token = request_id.current.set("req-42")
    try:
        try:
            raise ValueError("no account for jane.doe@example.com")
        except ValueError:
            record = logging.LogRecord(
                "reservations",
                logging.WARNING,
                __file__,
                1,
                "Guest %s",
                ("jane.doe@example.com",),
                exc_info=sys.exc_info(),
            )
            record.data = {"to": "bob@example.org"}  # an extra field, as Celery adds
        line = _json_line(record)
    finally:
        request_id.current.reset(token)

    assert (line["request_id"], line["level"], line["logger"]) == (
        "req-42",
        "WARNING",
        "reservations",
    )
    assert line["message"] == "Guest j***@example.com"
    assert "jane.doe" not in json.dumps(line)
    assert line["data"] == {"to": "b***@example.org"}
    assert "j***@example.com" in line["exc_info"]


def test_settings_log_json_by_default_outside_debug(settings):
    assert settings.LOG_FORMAT == "json"
    assert settings.LOGGING["handlers"]["console"]["formatter"] == "json"
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["mask_emails", "request_id"]


@pytest.fixture
def json_worker_logs(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "json")


def test_a_bookings_request_id_is_on_its_tasks_log_line(
    json_worker_logs, celery_processes, localstripe, mailbox
):
    """The confirmation (the request that makes the booking hold) queues its e-mail task;
    the worker's line for that task names the request."""
    celery_processes.worker()
    driver = Driver(localstripe)
    rid = uuid.uuid4().hex
    driver.client.credentials(HTTP_X_REQUEST_ID=rid)
    driver.book_and_pay(ParkingSpotFactory().pk)

    def task_lines() -> list[dict]:
        lines = []
        for text in celery_processes.log("w1").splitlines():
            if text.startswith("{"):
                line = json.loads(text)
                if line.get("request_id") == rid:
                    lines.append(line)
        return lines

    # Its "received" line comes first: wait for the one that says the task ran.
    lines = wait_until(
        lambda: [
            line
            for line in task_lines()
            if "tasks.email_send" in line["message"] and "succeeded" in line["message"]
        ],
        timeout=30,
        interval=0.2,
    )
    assert lines and all(line["request_id"] == rid for line in lines)
    assert driver.email not in celery_processes.log("w1")
    # Nothing reads a task's result: none is written (other tests' tasks may write theirs).
    task_ids = {re.search(r"\[([0-9a-f-]{36})\]", line["message"]).group(1) for line in lines}
    results = redis.Redis.from_url(settings.CELERY_RESULT_BACKEND)
    assert task_ids and not any(results.exists(f"celery-task-meta-{id_}") for id_ in task_ids)


# --- Sentry ------------------------------------------------------------------------------------


def test_sentry_events_have_e_mails_masked():
    event = {
        "message": "no booking for jane.doe@example.com",
        "request": {"url": "https://x.test/reservation-unauth/abc/jane.doe%40example.com/"},
        "exception": {"values": [{"value": "Guest bob@example.org", "stacktrace": {"frames": []}}]},
        "breadcrumbs": {"values": [{"message": "sent to bob@example.org", "level": 20}]},
        "level": "error",
    }

    scrubbed = before_send(event, {})

    assert "jane.doe" not in json.dumps(scrubbed) and "bob@" not in json.dumps(scrubbed)
    assert scrubbed["message"] == "no booking for j***@example.com"
    assert scrubbed["exception"]["values"][0]["value"] == "Guest b***@example.org"
    assert scrubbed["breadcrumbs"]["values"][0]["level"] == 20


# --- Grafana -------------------------------------------------------------------------------------

PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "le",
    "inf",
    "nan",
}


def promql_metric_names(expr: str) -> set[str]:
    """Identifiers that name series: not functions, keywords, labels, or durations."""
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def test_every_dashboard_query_names_only_metrics_the_app_exports():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(promql_metric_names(expr) for expr in exprs))

    assert used, "the dashboard queries nothing"
    assert used <= metrics.metric_names(), used - metrics.metric_names()
    # Every metric the app exports has a panel.
    families = {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in metrics.metric_names()}
    assert families <= {re.sub(r"_(total|bucket|count|sum)$", "", name) for name in used}


def test_the_metric_name_parser_sees_a_typo():
    assert promql_metric_names('sum by (route) (rate(smspot_typo_total{a="b"}[5m]))') == {
        "smspot_typo_total"
    }


def test_sentry_is_off_without_a_dsn(settings):
    import sentry_sdk

    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()
