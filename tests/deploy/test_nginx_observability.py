"""Behind the deploy nginx: every request carries nginx's own id to Django, and /metrics is
never served to the internet, token or not (Prometheus scrapes gunicorn directly)."""

import json
import re

import pytest

from tests.deploy.conftest import request

TOKEN = "deploy-metrics-token"


@pytest.fixture
def metrics_token(monkeypatch):
    """Inherited by the stack's gunicorn (production_env copies the environment)."""
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)


def test_nginx_gives_each_request_its_id_and_django_returns_it(metrics_token, proxy_stack):
    headers = {"Host": "localhost", "X-Request-ID": "chosen-by-the-client"}
    first = request(proxy_stack["https_port"], "/healthz", headers, tls=True)
    second = request(proxy_stack["https_port"], "/healthz", headers, tls=True)

    assert first.status == second.status == 200
    ids = [first.getheader("X-Request-ID"), second.getheader("X-Request-ID")]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i or "") for i in ids), ids
    assert ids[0] != ids[1]


@pytest.mark.parametrize("path", ["/metrics", "/metrics/"])
def test_metrics_are_not_served_through_nginx_even_with_the_token(metrics_token, proxy_stack, path):
    bearer = {"Host": "localhost", "Authorization": f"Bearer {TOKEN}"}
    public = request(proxy_stack["https_port"], path, bearer, tls=True)
    direct = request(proxy_stack["gunicorn_port"], path, {**bearer, "X-Forwarded-Proto": "https"})

    assert public.status == 404
    assert json.loads(public.body) == {"detail": "Not found."}
    assert direct.status == 200
    assert b"smspot_http_request_duration_seconds" in direct.body
