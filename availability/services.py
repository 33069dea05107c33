from django.db import connection, transaction

from availability.models import AvailabilityState
from availability.types import Version
from secure_my_spot.locking import row_lock

# One bump covers every moment that passed since the last reader: the answer is computed
# for now, whatever happened in between. A concurrent reader that advanced first makes the
# WHERE false here after its commit, so each moment costs one UPDATE in all workers together.
ADVANCE = """
UPDATE availability_availabilitystate SET
    version = version + 1,
    changed_at = greatest(changed_at, next_change_at),
    next_change_at = availability_next_change(statement_timestamp())
WHERE id = 1 AND next_change_at <= statement_timestamp()
RETURNING version, changed_at, next_change_at
"""
CURRENT = (
    "SELECT version, changed_at, next_change_at FROM availability_availabilitystate WHERE id = 1"
)


def availability_version_advance() -> Version:
    """Bump the version for holds and reservations that started or ran out by time alone.

    The row is locked by a statement of its own first, so that the recomputation sees every
    transaction that committed while this one waited for the lock.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        row_lock(AvailabilityState.objects.filter(pk=1).only("pk"))
        cursor.execute(ADVANCE)
        row = cursor.fetchone()
        if row is None:
            cursor.execute(CURRENT)
            row = cursor.fetchone()
        if row is None:  # the row was truncated away (a test flush): start a new epoch
            cursor.execute("SELECT availability_touch(true, clock_timestamp(), 'empty', NULL)")
            cursor.execute(CURRENT)
            row = cursor.fetchone()
    return Version(number=row[0], changed_at=row[1], next_change_at=row[2])
