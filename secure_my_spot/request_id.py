"""One id per request on every log line it causes, its Celery tasks' lines included.

nginx sets `X-Request-ID` (its own `$request_id`); without one (runserver, a direct call)
the middleware makes one. The response carries it back, so a client's report names the
lines to read. The id travels to the worker in the task message's headers
(`before_task_publish`) and is restored around the task (`task_prerun`/`task_postrun`),
which secure_my_spot/celery.py connects.
"""

import logging
import re
import uuid
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
# Whatever a client sends reaches the logs: only a short, plain token is taken.
ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,64}")
NONE = "-"

current: ContextVar[str] = ContextVar("request_id", default=NONE)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on the record (`%(request_id)s`); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    """Kept until `request_finished` (request_end): Django logs a 4xx/5xx answer after the
    last middleware has returned."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        request_id = given if ACCEPTED.fullmatch(given) else uuid.uuid4().hex
        current.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def request_end(**_signal_kwargs: object) -> None:
    """request_finished (connected in apps.py): a thread's next lines belong to no request."""
    current.set(NONE)


def task_publish_tag(headers: dict | None = None, **_signal_kwargs: object) -> None:
    """before_task_publish: the enqueueing request's id goes with the message."""
    request_id = current.get()
    if headers is not None and request_id != NONE:
        headers[TASK_HEADER] = request_id


def task_run_start(task=None, **_signal_kwargs: object) -> None:
    """task_prerun: the message's id (protocol 2 puts custom headers on the request)."""
    given = getattr(getattr(task, "request", None), TASK_HEADER, None)
    current.set(given if isinstance(given, str) and ACCEPTED.fullmatch(given) else NONE)


def task_run_end(**_signal_kwargs: object) -> None:
    """task_postrun: a worker's lines between tasks belong to no request."""
    current.set(NONE)
