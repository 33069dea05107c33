"""Answers for errors that any view can meet, DRF's or Django's own."""

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework import status

from secure_my_spot.db import LOCK_NOT_AVAILABLE, QUERY_CANCELED, database_error_code

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


def database_timeout_response(exc: BaseException, response_class: type) -> HttpResponse | None:
    """The 409/503 with Retry-After for a timed-out database wait, built with
    `response_class` (DRF's Response or Django's JsonResponse); None for any other error."""
    code = database_error_code(exc)
    if code not in _DATABASE_TIMEOUTS:
        return None
    status_code, retry_after, message = _DATABASE_TIMEOUTS[code]
    logger.warning("Database wait ran out (SQLSTATE %s)", code)
    response = response_class({"detail": message}, status=status_code)
    response["Retry-After"] = str(retry_after)
    return response


class DatabaseTimeoutMiddleware:
    """The same answer for views outside DRF (the admin, health checks), whose errors would
    otherwise be Django's plain 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return database_timeout_response(exception, JsonResponse)
