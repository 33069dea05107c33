"""Every lock the service takes goes through here, and this is the order they are taken in.

Within one transaction, locks are taken top to bottom and never the other way round, so two
transactions never wait on each other crosswise (a deadlock):

1. Holder locks, `advisory_xact_locks`: the account, e-mail and client address of a booking,
   in sorted order (reservations.services: the caps on unpaid holds).
2. A parking spot's row, `row_lock(..., no_key=True)`: serialises the writers of one spot's
   reservations (booking, changing an end).
3. A reservation's row, `row_lock`: every state change of a reservation, payments included.
   Then a payment's row (payments.services.refunds and .disputes: its refunds and
   disputes), which today is taken alone.
4. The availability state row (availability.services, and the triggers that bump the version
   as reservations change): always last, at the write that changes what is available.

Outside that order: an account's row (`row_lock` in users.tokens), which a password reset
holds alone, and which users.services.vehicle_add holds to count an account's vehicles,
alone or as a booking's last lock; `claim_rows` (SKIP LOCKED claims of due work and unsent
e-mail) never waits; the publisher's `advisory_session_lock` is the only lock held across
transactions and guards no row, only "one publisher at a time"; `rows_lock` serves bulk
imports, which management commands run alone.

Unique indexes make concurrent inserts of one key wait too (an outbox dedupe key, an
Idempotency-Key, a webhook event): those waits end with the other transaction. Every wait is
bounded by the process role's `lock_timeout` (secure_my_spot/process_role.py; a web
request's ends in a 409); `advisory_xact_locks` may ask for a shorter one.
"""

import hashlib
from collections.abc import Iterable
from typing import TypeVar

from django.db import OperationalError, connection, transaction
from django.db.models import Model, QuerySet

from secure_my_spot.db import LOCK_NOT_AVAILABLE, database_error_code
from secure_my_spot.exceptions import ConflictError

M = TypeVar("M", bound=Model)


def advisory_key(namespace: str, key: str) -> int:
    """A stable 64-bit advisory lock key for `key` within `namespace`."""
    digest = hashlib.sha256(f"{namespace}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], signed=True)


def advisory_xact_locks(
    *, namespace: str, keys: Iterable[str], timeout: str, busy_message: str
) -> None:
    """Transaction-level advisory locks on `keys`, sorted, each waited for at most `timeout`
    (a PostgreSQL interval such as "5s"); ConflictError(`busy_message`) when one is not free."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            (previous,) = cursor.fetchone()
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [timeout])
            for key in sorted(set(keys)):
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [advisory_key(namespace, key)])
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    except OperationalError as exc:
        if database_error_code(exc) != LOCK_NOT_AVAILABLE:
            raise
        raise ConflictError(busy_message) from exc


def advisory_session_lock(*, key: int) -> None:
    """Wait for the session-level advisory lock `key`, held until the connection closes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])


def row_lock(queryset: QuerySet[M], *, no_key: bool = False) -> M | None:
    """The first row of `queryset`, locked until the transaction ends (FOR UPDATE; FOR NO
    KEY UPDATE with `no_key`, which leaves foreign-key checks that reference it alone)."""
    return queryset.select_for_update(no_key=no_key).first()


def rows_lock(queryset: QuerySet[M]) -> QuerySet[M]:
    """Every row of `queryset`, locked as it is read, until the transaction ends."""
    return queryset.select_for_update()


def claim_rows(queryset: QuerySet, *, limit: int) -> list[int]:
    """The ids of up to `limit` rows of `queryset` that nobody else holds, locked until the
    transaction ends; rows another transaction holds are skipped, never waited for."""
    return list(queryset.select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
