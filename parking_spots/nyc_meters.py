"""Reading NYC Open Data's "Parking Meters Locations and Status" export (data set 693u-uax6).

Pure parsing: one CSV row in, either a `MeterRecord` or the reason the row is skipped. The
export is hand-maintained and messy (see the project's data notes), so every field is
normalised here and nothing in it is trusted to fit the database as is.
"""

import math
import re
from dataclasses import dataclass
from decimal import Decimal

from parking_spots.models import ParkingSpot
from parking_spots.schedules import parse_meter_hours

REQUIRED_COLUMNS = frozenset(
    {"Meter Number", "Status", "Facility", "Borough", "Latitude", "Longitude", "Meter_Hours"}
)

BOROUGHS = ("Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island")
BOROUGH_TYPOS = {"brookyln": "Brooklyn"}
_BOROUGH_KEYS = {name.casefold(): name for name in BOROUGHS} | BOROUGH_TYPOS

ACTIVE = "active"
RETIRED_STATUSES = frozenset({"inactive", "retired"})
ON_STREET = "on street"

_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class MeterRecord:
    """One meter; a retired one carries only what deactivating its spot needs."""

    meter_number: str
    active: bool
    lat: Decimal | None = None
    lng: Decimal | None = None
    borough: str = ""
    street: str = ""
    side_of_street: str = ""
    from_street: str = ""
    to_street: str = ""
    meter_hours: str = ""


class SkipRow(Exception):
    """The row cannot become (or change) a spot; the message is the summary's reason."""


def clean(value: str | None) -> str:
    """Trim, fold runs of whitespace (non-breaking spaces too) into one space, drop NULs.

    PostgreSQL text cannot hold a NUL character; one in the file must not fail a batch.
    """
    return _WHITESPACE.sub(" ", (value or "").replace("\x00", "")).strip()


def _fit(field: str, value: str) -> str:
    return value[: ParkingSpot._meta.get_field(field).max_length]


def normalise_borough(value: str) -> str:
    return _BOROUGH_KEYS.get(clean(value).casefold(), clean(value))


def normalise_side(value: str) -> str:
    """N/S/E/W/C as capitals; anything else ("Island") is kept, tidied."""
    side = clean(value)
    return side.upper() if len(side) == 1 else side


def _coordinate(value: str, low: float, high: float) -> Decimal:
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(value)
    return Decimal(value.strip()).quantize(Decimal("0.000001"))


def _position(row: dict[str, str]) -> tuple[Decimal, Decimal]:
    """Latitude/Longitude columns; the WKT `POINT (lon lat)` when those are unusable."""
    candidates = [(row.get("Latitude") or "", row.get("Longitude") or "")]
    point = re.fullmatch(r"\s*POINT\s*\(\s*(\S+)\s+(\S+)\s*\)\s*", row.get("Location") or "")
    if point:
        candidates.append((point.group(2), point.group(1)))
    for lat, lng in candidates:
        try:
            lat_value, lng_value = _coordinate(lat, -90, 90), _coordinate(lng, -180, 180)
        except (ValueError, ArithmeticError):
            continue
        if lng_value != -180 and not (lat_value == 0 and lng_value == 0):
            return lat_value, lng_value
    raise SkipRow("no usable coordinates")


def parse_time_limit(meter_hours: str) -> int | None:
    """Longest stay in minutes that the posted hours allow a passenger car; None for no limit.

    The shortest limit that can apply to a passenger car (see `MeterSchedule.shortest_limit`):
    a reservation of that length is legal whenever the meter applies. Text that is not a
    schedule ("Rate NOT Available ...", blank) posts no limit: the reservation maximum applies.
    """
    return parse_meter_hours(meter_hours).shortest_limit()


def parse_row(row: dict[str | None, str | list | None]) -> MeterRecord:
    """The record for one CSV row, or SkipRow saying why it cannot be imported."""
    if None in row or None in row.values():
        raise SkipRow("malformed row (wrong number of columns)")
    meter_number = clean(row["Meter Number"])
    if not meter_number:
        raise SkipRow("no meter number")
    if len(meter_number) > ParkingSpot._meta.get_field("meter_number").max_length:
        raise SkipRow("meter number too long")
    status = clean(row["Status"]).casefold()
    if status != ACTIVE and status not in RETIRED_STATUSES:
        raise SkipRow(f"status {clean(row['Status']) or 'missing'}")
    if status in RETIRED_STATUSES:
        return MeterRecord(meter_number=meter_number, active=False)
    if clean(row["Facility"]).casefold() != ON_STREET:
        raise SkipRow(f"not on street (facility {clean(row['Facility']) or 'missing'})")
    lat, lng = _position(row)
    return MeterRecord(
        meter_number=meter_number,
        active=True,
        lat=lat,
        lng=lng,
        borough=_fit("borough", normalise_borough(row["Borough"])),
        street=_fit("street", clean(row.get("On_Street"))),
        side_of_street=_fit("side_of_street", normalise_side(row.get("Side_of_Street") or "")),
        from_street=_fit("from_street", clean(row.get("From_Street"))),
        to_street=_fit("to_street", clean(row.get("To_Street"))),
        meter_hours=clean(row["Meter_Hours"]),
    )
