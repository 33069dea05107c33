"""Answers for errors that any view can meet, DRF's or Django's own."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status

from secure_my_spot.db import (
    LOCK_NOT_AVAILABLE,
    QUERY_CANCELED,
    database_error_code,
    database_unavailable,
)

logger = logging.getLogger(__name__)

# A bounded database wait that ran out (secure_my_spot.process_role): status, Retry-After in
# seconds, message. A lock wait means someone else is changing the same thing right now.
_DATABASE_TIMEOUTS = {
    LOCK_NOT_AVAILABLE: (
        status.HTTP_409_CONFLICT,
        1,
        "Someone else is changing this right now: try again in a moment.",
    ),
    QUERY_CANCELED: (
        status.HTTP_503_SERVICE_UNAVAILABLE,
        5,
        "The service is busy: try again in a few seconds.",
    ),
}
# PostgreSQL out of reach (a restart, a failover): the next request after it is back opens a
# new connection (CONN_HEALTH_CHECKS; Django drops a connection that failed mid-request).
_DATABASE_UNAVAILABLE = (
    status.HTTP_503_SERVICE_UNAVAILABLE,
    5,
    "The service is temporarily unavailable: try again in a few seconds.",
)


def database_error_response(exc: BaseException, response_class: type) -> HttpResponse | None:
    """The 409/503 with Retry-After for a timed-out database wait or an unreachable
    database, built with `response_class` (DRF's Response or Django's JsonResponse); None for
    any other error."""
    code = database_error_code(exc)
    if code in _DATABASE_TIMEOUTS:
        status_code, retry_after, message = _DATABASE_TIMEOUTS[code]
        logger.warning("Database wait ran out (SQLSTATE %s)", code)
    elif database_unavailable(exc):
        status_code, retry_after, message = _DATABASE_UNAVAILABLE
        logger.warning("Database unavailable: %s", str(exc).split("\n", 1)[0])
    else:
        return None
    response = response_class({"detail": message}, status=status_code)
    response["Retry-After"] = str(retry_after)
    return response


class DatabaseTimeoutMiddleware:
    """The same answer for views outside DRF (the admin, health checks), whose errors would
    otherwise be Django's plain 500 (an HTML page with DEBUG on)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return database_error_response(exception, JsonResponse)
