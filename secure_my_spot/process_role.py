"""What kind of process this is, and how long it may wait on PostgreSQL because of it.

A web request must answer well within gunicorn's timeout, so its lock waits and statements
are short; a Celery worker may wait longer (its work is claimed again if it fails); a
management command (migrations, imports) may legitimately run long and gets no limit. The
entry points declare the role (wsgi.py and asgi.py "web", celery.py "worker"); a process
that declares none, the test run included, keeps PostgreSQL's defaults.

PostgreSQL enforces those limits itself, so they cannot end a wait on a server that no
longer answers at all (stalled, or a network path that went dark): for that the role also
installs psycopg2's wait callback, which gives a connect a few seconds and every other round
trip the statement timeout plus a second, then gives up; psycopg2 closes the connection and
the request gets a 503. Once a wait has given up, the thread's next ones give up after a
second, until PostgreSQL answers again: a request makes several round trips (a health
check, a connect, its queries) and must not wait the full bound for each. Per thread, so one
dead connection does not cut other threads' healthy waits short.
"""

import select
import threading
import time

import psycopg2
from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from psycopg2 import extensions

WEB = "web"
WORKER = "worker"
# How much longer than its statement timeout a round trip may take before the server counts
# as gone: the server's own cancellation (a 503 with its SQLSTATE) comes first when it can.
NO_ANSWER_GRACE_SECONDS = 1.0
CONNECT_SECONDS = 3.0
# A wait while PostgreSQL is known not to answer.
UNRESPONSIVE_SECONDS = 1.0

_role: str | None = None
_answer_deadline_seconds: float | None = None
_silence = threading.local()  # .unresponsive: this thread's last wait gave up


def process_role_declare(*, role: str | None) -> None:
    """Applies to connections opened from now on: entry points declare it before any opens."""
    global _role, _answer_deadline_seconds
    if role not in (WEB, WORKER, None):
        raise ValueError(f"Unknown process role: {role!r}")
    _role = role
    _silence.unresponsive = False
    timeouts = _database_timeouts_ms()
    if timeouts is None or not timeouts[1]:
        _answer_deadline_seconds = None
        extensions.set_wait_callback(None)
    else:
        _answer_deadline_seconds = timeouts[1] / 1000 + NO_ANSWER_GRACE_SECONDS
        extensions.set_wait_callback(_wait_for_answer)


def process_role() -> str | None:
    return _role


def _database_timeouts_ms() -> tuple[int, int] | None:
    """(lock_timeout, statement_timeout) in milliseconds for this role; 0 turns one off."""
    if _role == WEB:
        return settings.DB_WEB_LOCK_TIMEOUT_MS, settings.DB_WEB_STATEMENT_TIMEOUT_MS
    if _role == WORKER:
        return settings.DB_WORKER_LOCK_TIMEOUT_MS, settings.DB_WORKER_STATEMENT_TIMEOUT_MS
    return None


def _wait_for_answer(conn: extensions.connection) -> None:
    """psycopg2's wait callback (connects and queries alike), with a deadline.

    Raising here makes psycopg2 close the connection, so nothing reuses a half-read stream.
    """
    if getattr(_silence, "unresponsive", False):
        seconds = UNRESPONSIVE_SECONDS
    elif conn.status == extensions.STATUS_SETUP:
        seconds = min(CONNECT_SECONDS, _answer_deadline_seconds)
    else:
        seconds = _answer_deadline_seconds
    deadline = time.monotonic() + seconds
    poller = select.poll()  # any descriptor number, unlike select.select
    while (state := conn.poll()) != extensions.POLL_OK:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _silence.unresponsive = True
            raise psycopg2.OperationalError(f"PostgreSQL did not answer within {seconds:g} s")
        events = select.POLLIN if state == extensions.POLL_READ else select.POLLOUT
        poller.register(conn.fileno(), events)
        poller.poll(remaining * 1000)
    _silence.unresponsive = False


@receiver(connection_created, dispatch_uid="secure_my_spot.process_role")
def _bound_database_waits(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    """Session settings, once per connection (connections are opened in autocommit mode, so
    they outlive every transaction; a SET LOCAL inside one still overrides them)."""
    timeouts = _database_timeouts_ms()
    if timeouts is None or connection.vendor != "postgresql":
        return
    lock_ms, statement_ms = timeouts
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('lock_timeout', %s, false),"
            " set_config('statement_timeout', %s, false)",
            [f"{lock_ms}ms", f"{statement_ms}ms"],
        )
