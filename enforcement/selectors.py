"""Reads for enforcement: which key is asking, and whether a stay covers a car or a meter now."""

import enum
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q

from enforcement.models import METER_MAX_LENGTH, EnforcementKey
from parking_spots.models import ParkingSpot
from reservations.models import BILLED_STATUSES, Reservation, ReservationStatus
from reservations.selectors import reservation_holding_q
from secure_my_spot.exceptions import NotFoundError

# `ek_` + 64 random bits in hex (the public prefix), `.`, 256 random bits URL-safe (the secret).
KEY_PATTERN = re.compile(r"(ek_[0-9a-f]{16})\.[A-Za-z0-9_-]{43}")
_METER = re.compile(rf"[A-Za-z0-9-]{{1,{METER_MAX_LENGTH}}}")
# A plate covered at several meters at once is rare; the answer lists this many at most.
COVERING_MAX = 20


def key_digest(key: str) -> str:
    """SHA-256 of the whole key: the secret is 256 random bits, so no slow hash is needed."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def enforcement_key_get_valid(*, key: str) -> EnforcementKey | None:
    """The unrevoked key whose prefix and secret both match `key`; None for anything else."""
    match = KEY_PATTERN.fullmatch(key)
    if match is None:
        return None
    found = EnforcementKey.objects.filter(prefix=match.group(1), revoked_at__isnull=True).first()
    if found is None or not hmac.compare_digest(found.secret_sha256, key_digest(key)):
        return None
    return found


def meter_normalise(value: str) -> str:
    """A meter number as the NYC export spells it (digits), typed with stray spaces or all."""
    meter = unicodedata.normalize("NFKC", value).strip()
    if not _METER.fullmatch(meter):
        raise ValidationError(
            f"Give the meter's number as printed on it (at most {METER_MAX_LENGTH} letters, "
            "digits or dashes), e.g. 1234567."
        )
    return meter


class Reason(enum.StrEnum):
    COVERED = "covered"
    # Not covered: the reason names the stay nearest now (its latest that ended, its next).
    EXPIRED = "expired"
    NOT_STARTED = "not_started"
    # The plate is covered now, but at another meter than the one asked about.
    OTHER_SPOT = "other_spot"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class Stay:
    """What enforcement may see of a reservation: where, which car, when. Nothing personal,
    and no status that tells of payment: billed stays all read `ended`."""

    parking_spot: int
    meter: str | None
    borough: str
    street: str
    plate: str
    state: str
    start_time: datetime
    end_time: datetime
    status: str


@dataclass(frozen=True)
class Coverage:
    covered: bool
    reason: Reason
    checked_at: datetime
    stays: list[Stay]


_STAY_COLUMNS = (
    "spot_id",
    "spot__meter_number",
    "spot__borough",
    "spot__street",
    "plate",
    "plate_state",
    "start_time",
    "end_time",
)


def _stays(where: Q, *, now: datetime) -> list[Stay]:
    """The stays running at `now`, the next to start and the latest that ended, in one query.

    Paid-for stays only (`active`, then billed): a payment hold holds its spot but covers no
    car, and a cancelled reservation never did. Running is the project's holding rule
    (reservation_holding_q) narrowed to `active`.
    """
    stays = Reservation.objects.filter(where).values_list(*_STAY_COLUMNS)
    running = stays.filter(reservation_holding_q(now=now), status=ReservationStatus.ACTIVE)
    upcoming = stays.filter(status=ReservationStatus.ACTIVE, start_time__gt=now)
    ended = stays.filter(status__in=(ReservationStatus.ACTIVE, *BILLED_STATUSES), end_time__lte=now)
    rows = running.order_by("start_time")[:COVERING_MAX].union(
        upcoming.order_by("start_time")[:1], ended.order_by("-end_time")[:1], all=True
    )
    return [
        Stay(
            parking_spot=spot_id,
            meter=meter,
            borough=borough,
            street=street,
            plate=plate,
            state=state,
            start_time=start,
            end_time=end,
            status="active" if end > now else "ended",
        )
        for spot_id, meter, borough, street, plate, state, start, end in rows
    ]


def coverage_check(*, plate: str = "", state: str = "", meter: str = "", now: datetime) -> Coverage:
    """Whether a paid stay covers `plate` (of `state`), `meter`, or that plate at that meter,
    at `now`. The inputs are normalised; an unknown meter is a 404 naming `meter`."""
    spot_id = None
    if meter:
        spot_id = ParkingSpot.objects.filter(meter_number=meter).values_list("pk", flat=True)
        spot_id = spot_id.first()
        if spot_id is None:
            raise NotFoundError(f"No meter numbered {meter} is known.", field="meter")
    # The plate's own stays through its index (reservation_plate_end), wherever they are.
    where = Q(plate=plate, plate_state=state) & ~Q(plate="") if plate else Q(spot_id=spot_id)
    stays = _stays(where, now=now)
    running = [stay for stay in stays if stay.start_time <= now < stay.end_time]
    if running:
        here = [stay for stay in running if spot_id is None or stay.parking_spot == spot_id]
        if here:
            return Coverage(covered=True, reason=Reason.COVERED, checked_at=now, stays=here)
        return Coverage(covered=False, reason=Reason.OTHER_SPOT, checked_at=now, stays=running)
    nearest = min(
        stays,
        key=lambda stay: now - stay.end_time if stay.end_time <= now else stay.start_time - now,
        default=None,
    )
    if nearest is None:
        return Coverage(covered=False, reason=Reason.NOT_FOUND, checked_at=now, stays=[])
    reason = Reason.EXPIRED if nearest.end_time <= now else Reason.NOT_STARTED
    return Coverage(covered=False, reason=reason, checked_at=now, stays=[nearest])
