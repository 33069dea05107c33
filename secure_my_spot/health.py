"""Probes: `/healthz` says the process answers, `/readyz` that its dependencies do (or that
only the cache is down: "degraded", still ready)."""

import logging

from django.conf import settings
from django.core.cache import cache
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
    """A round trip through the web tier's own cache: its timeouts, and "unavailable" while
    it has stopped trying a Redis that failed (secure_my_spot/cache.py)."""
    cache.has_key("readyz")


CHECKS = {"database": _database, "broker": _broker, "cache": _cache}
# Without these the service still answers correctly, only slower: "degraded", still ready.
OPTIONAL = {"cache"}


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
    failed = {name for name, result in results.items() if result != "ok"}
    if failed - OPTIONAL:
        return JsonResponse({"status": "unavailable", "checks": results}, status=503)
    return JsonResponse({"status": "degraded" if failed else "ok", "checks": results})
