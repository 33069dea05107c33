"""Transaction helpers shared by the apps' services."""

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import QuerySet


def after_commit(func: Callable[..., object], **kwargs: object) -> None:
    """Run `func(**kwargs)` once the transaction commits; a failure is logged, not raised.

    The change is committed by then, so a mail server or broker error must not turn it into a
    failed request or task. A lambda rather than functools.partial: Django logs a failing
    robust callback by its __qualname__, which a partial lacks (the logging itself raises).
    """
    transaction.on_commit(lambda: func(**kwargs), robust=True)


def rows_delete_batch(*, rows: QuerySet) -> int:
    """Delete at most DUE_WORK_BATCH_SIZE of `rows`: the sweeps that forget old rows never
    hold one long transaction, however much piled up; the beat's next tick takes the rest."""
    batch = rows.values("pk")[: settings.DUE_WORK_BATCH_SIZE]
    deleted, _ = rows.model.objects.filter(pk__in=batch).delete()
    return deleted


# PostgreSQL's SQLSTATEs for a bounded wait that ran out (secure_my_spot.process_role).
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout
QUERY_CANCELED = "57014"  # statement_timeout
# The server going away or not there yet: a restart's shutdown, a crash, "starting up".
SERVER_GONE = {"57P01", "57P02", "57P03"}


def database_error_code(exc: BaseException) -> str | None:
    """The SQLSTATE behind a Django database error, None for anything else."""
    if not isinstance(exc, DatabaseError):
        return None
    return getattr(exc.__cause__, "pgcode", None)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` is PostgreSQL out of reach (refused, restarting, connection cut) rather
    than something this request did: libpq reports a lost or refused connection without a
    SQLSTATE, the server its own shutdown with one; class 08 is a connection exception."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    code = database_error_code(exc)
    return code is None or code.startswith("08") or code in SERVER_GONE
