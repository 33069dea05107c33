"""Writes for enforcement: keys (issued, revoked, marked used) and the log of lookups."""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from enforcement.models import GIVEN_MAX_LENGTH, CoverageLookup, EnforcementKey, Scope
from enforcement.selectors import key_digest
from secure_my_spot.db import rows_delete_batch
from users.models import User

# last_used_at is for operators ("is this key still in use?"): a write a minute is plenty.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    key: EnforcementKey
    # The only time the key exists in clear: shown to the operator once, never stored.
    clear: str


def enforcement_key_create(
    *, name: str, scopes: Iterable[str], created_by: User | None
) -> IssuedKey:
    prefix = f"ek_{secrets.token_hex(8)}"
    clear = f"{prefix}.{secrets.token_urlsafe(32)}"
    key = EnforcementKey.objects.create(
        name=name,
        prefix=prefix,
        secret_sha256=key_digest(clear),
        scopes=sorted({Scope(scope).value for scope in scopes}),
        created_by=created_by,
    )
    return IssuedKey(key=key, clear=clear)


def enforcement_key_revoke(*, key_id: int) -> bool:
    """Revoke a key from its next request on; False when it already was. The row stays."""
    return bool(
        EnforcementKey.objects.filter(pk=key_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def enforcement_key_mark_used(*, key: EnforcementKey, now: datetime) -> None:
    """Record that `key` was used, unless that was done less than LAST_USED_EVERY ago."""
    since = now - LAST_USED_EVERY
    if key.last_used_at is not None and key.last_used_at > since:
        return
    EnforcementKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=since), pk=key.pk
    ).update(last_used_at=now)
    key.last_used_at = now


def _as_given(value: str) -> str:
    """A query parameter as sent, cut short, without the NUL PostgreSQL cannot store."""
    return value[:GIVEN_MAX_LENGTH].replace("\x00", "\N{REPLACEMENT CHARACTER}")


def coverage_lookup_record(
    *,
    key: EnforcementKey,
    given: dict[str, str],
    normalised: dict[str, str],
    covered: bool | None,
    reason: str,
    client_address: str | None,
    at: datetime,
) -> CoverageLookup:
    """Log one answered lookup. `given` holds the parameters as sent (plate, state, meter),
    `normalised` what they were looked up as (empty when the query was refused)."""
    return CoverageLookup.objects.create(
        key=key,
        at=at,
        given_plate=_as_given(given.get("plate", "")),
        given_state=_as_given(given.get("state", "")),
        given_meter=_as_given(given.get("meter", "")),
        plate=normalised.get("plate", ""),
        plate_state=normalised.get("state", ""),
        meter=normalised.get("meter", ""),
        covered=covered,
        reason=reason,
        client_address=client_address,
    )


def coverage_lookup_purge(*, now: datetime) -> int:
    """Forget lookups older than ENFORCEMENT_LOOKUPS_KEEP_DAYS, a batch at a time (the
    workers' beat calls it with their other sweeps)."""
    cutoff = now - timedelta(days=settings.ENFORCEMENT_LOOKUPS_KEEP_DAYS)
    return rows_delete_batch(rows=CoverageLookup.objects.filter(at__lt=cutoff))
