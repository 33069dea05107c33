"""Probes: `/healthz` says the process answers, `/readyz` that its dependencies do."""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from kombu import Connection

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=PROBE_TIMEOUT_SECONDS) as conn:
        conn.ensure_connection(max_retries=1)


def _cache() -> None:
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


CHECKS = {"database": _database, "broker": _broker, "cache": _cache}


def _probe(view):
    """GET and HEAD only (probes send either); any other method is a JSON 405."""

    def wrapper(request: HttpRequest) -> JsonResponse:
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                {"detail": f'Method "{request.method}" not allowed.'}, status=405
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request)

    return wrapper


@_probe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@_probe
def readyz(request: HttpRequest) -> JsonResponse:
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure means "not ready"; the reason is logged
            logger.warning("readiness check %s failed: %s", name, type(exc).__name__)
            results[name] = "unavailable"
        else:
            results[name] = "ok"
    ready = all(result == "ok" for result in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results},
        status=200 if ready else 503,
    )
