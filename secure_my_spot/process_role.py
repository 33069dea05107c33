"""What kind of process this is, and how long it may wait on PostgreSQL because of it.

A web request must answer well within gunicorn's timeout, so its lock waits and statements
are short; a Celery worker may wait longer (its work is claimed again if it fails); a
management command (migrations, imports) may legitimately run long and gets no limit. The
entry points declare the role (wsgi.py and asgi.py "web", celery.py "worker"); a process
that declares none, the test run included, keeps PostgreSQL's defaults.
"""

from django.conf import settings
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver

WEB = "web"
WORKER = "worker"

_role: str | None = None


def process_role_declare(*, role: str | None) -> None:
    """Applies to connections opened from now on: entry points declare it before any opens."""
    global _role
    if role not in (WEB, WORKER, None):
        raise ValueError(f"Unknown process role: {role!r}")
    _role = role


def process_role() -> str | None:
    return _role


def _database_timeouts_ms() -> tuple[int, int] | None:
    """(lock_timeout, statement_timeout) in milliseconds for this role; 0 turns one off."""
    if _role == WEB:
        return settings.DB_WEB_LOCK_TIMEOUT_MS, settings.DB_WEB_STATEMENT_TIMEOUT_MS
    if _role == WORKER:
        return settings.DB_WORKER_LOCK_TIMEOUT_MS, settings.DB_WORKER_STATEMENT_TIMEOUT_MS
    return None


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
