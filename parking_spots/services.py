import csv
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TextIO

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from parking_spots.models import POSITION_ORDER_INDEX, ParkingSpot, RateZone
from parking_spots.nyc_meters import (
    REQUIRED_COLUMNS,
    MeterRecord,
    SkipRow,
    parse_row,
    parse_time_limit,
)
from parking_spots.zones import zone_code_for
from secure_my_spot.exceptions import ApplicationError
from secure_my_spot.locking import rows_lock

# What the importer owns on a spot; anything else (an operator's notes to come) it leaves be.
# Not the rate: the database copies it from the spot's zone.
IMPORTED_FIELDS = (
    "lat",
    "lng",
    "active",
    "borough",
    "street",
    "side_of_street",
    "from_street",
    "to_street",
    "meter_hours",
    "time_limit_minutes",
    "zone",  # unless an operator pinned it
)


@dataclass
class ImportSummary:
    """Every row read lands in exactly one bucket; `skipped` counts by reason."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def accounted(self) -> int:
        return (
            self.created
            + self.updated
            + self.unchanged
            + self.deactivated
            + sum(self.skipped.values())
        )


def _csv_rows(csv_file: TextIO, summary: ImportSummary) -> Iterator[dict]:
    """Rows one at a time; a line the csv module cannot read is counted and passed over."""
    reader = csv.DictReader(csv_file)
    missing = REQUIRED_COLUMNS - set(reader.fieldnames or ())
    if missing:
        raise ApplicationError(f"Not a parking meters export; missing columns: {sorted(missing)}")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            summary.rows += 1
            summary.skipped[f"malformed CSV ({exc})"] += 1
            continue
        summary.rows += 1
        yield row


def _spot_values(record: MeterRecord, zone_ids: Mapping[str, int]) -> dict:
    return {
        "lat": record.lat,
        "lng": record.lng,
        "active": True,
        "borough": record.borough,
        "street": record.street,
        "side_of_street": record.side_of_street,
        "from_street": record.from_street,
        "to_street": record.to_street,
        "meter_hours": record.meter_hours,
        "time_limit_minutes": parse_time_limit(record.meter_hours),
        "zone_id": zone_ids.get(
            zone_code_for(lat=record.lat, lng=record.lng, street=record.street)
        ),
    }


@transaction.atomic
def _import_batch(
    records: dict[str, MeterRecord],
    zone_ids: Mapping[str, int],
    summary: ImportSummary,
    stamp: datetime,
) -> None:
    """Lock the batch's existing spots, compare, then write only what changed.

    Unchanged rows are not rewritten, so a re-import leaves `updated_at` alone. What it
    writes carries the import's one instant (`stamp`), not a microsecond apart per row:
    the same time is what it means, and 13,241 spots' all-spots answer gzips to 347 KB
    with it against 449 KB without.
    """
    existing = {
        spot.meter_number: spot
        for spot in rows_lock(ParkingSpot.objects.filter(meter_number__in=records))
    }
    upserts: list[ParkingSpot] = []
    deactivate: list[int] = []
    for meter_number, record in records.items():
        spot = existing.get(meter_number)
        if not record.active:
            if spot is None:
                summary.skipped["retired or inactive meter not in the inventory"] += 1
            elif spot.active:
                deactivate.append(spot.pk)
                summary.deactivated += 1
            else:
                summary.unchanged += 1
            continue
        values = _spot_values(record, zone_ids)
        if spot is not None and spot.zone_pinned:
            values["zone_id"] = spot.zone_id
        if spot is None:
            summary.created += 1
        elif any(getattr(spot, name) != value for name, value in values.items()):
            summary.updated += 1
        else:
            summary.unchanged += 1
            continue
        # A found spot keeps its created_at: the upsert rewrites update_fields only.
        upserts.append(
            ParkingSpot(meter_number=meter_number, created_at=stamp, updated_at=stamp, **values)
        )
    ParkingSpot.objects.bulk_create(
        upserts,
        update_conflicts=True,
        unique_fields=["meter_number"],
        update_fields=[*IMPORTED_FIELDS, "updated_at"],
    )
    ParkingSpot.objects.filter(pk__in=deactivate).update(active=False, updated_at=stamp)


def parking_spot_import_nyc_meters(*, csv_file: TextIO, batch_size: int = 1000) -> ImportSummary:
    """Upsert spots from NYC's parking meter export, streaming it batch by batch.

    Memory holds one batch, whatever the file's size. Active on-street meters become active
    spots; inactive or retired ones deactivate theirs (never delete: reservations point at
    spots). When a meter appears twice, the later row wins. Each spot gets its rate zone by
    the rule of parking_spots/zones.py, unless an operator pinned it, and with it its rate.
    """
    summary = ImportSummary()
    stamp = timezone.now()
    zone_ids = dict(RateZone.objects.values_list("code", "pk"))
    batch: dict[str, MeterRecord] = {}
    for row in _csv_rows(csv_file, summary):
        try:
            record = parse_row(row)
        except SkipRow as skip:
            summary.skipped[str(skip)] += 1
            continue
        if batch.pop(record.meter_number, None) is not None:
            summary.skipped["superseded by a later row for the same meter"] += 1
        batch[record.meter_number] = record
        if len(batch) >= batch_size:
            _import_batch(batch, zone_ids, summary, stamp)
            batch = {}
    if batch:
        _import_batch(batch, zone_ids, summary, stamp)
    if summary.created or summary.updated or summary.deactivated:
        parking_spot_order_by_position()
    return summary


def parking_spot_order_by_position() -> None:
    """Rewrite the spots table in position order (migration 0006's index: bands of 0.01
    degree of latitude, west to east in each), so a radius search reads a few dozen heap
    pages, not one per spot found; then refresh the planner's statistics.

    Rows written since the last rewrite land wherever there is room, so an import ends
    with this. It holds the table's ACCESS EXCLUSIVE lock while it runs (well under a
    second at 13k spots, seconds at a million): searches wait for it. Inside a caller's
    transaction (pending deferred triggers, a lock held to its end) it is left to the next
    import.
    """
    if connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(f"CLUSTER parking_spots_parkingspot USING {POSITION_ORDER_INDEX}")
        cursor.execute("ANALYZE parking_spots_parkingspot")


def parking_spot_set_active(*, spots: QuerySet[ParkingSpot], active: bool) -> int:
    """Switch spots on or off; returns how many changed, so repeating it is harmless."""
    return spots.exclude(active=active).update(active=active, updated_at=timezone.now())


def parking_spot_assign_zones(
    *, spots: QuerySet[ParkingSpot] | None = None, batch_size: int = 1000
) -> int:
    """Zone every unpinned spot (of `spots`, or all) by the rule of parking_spots/zones.py.

    Returns how many changed, so repeating it is harmless. Batch by batch, each locked while
    it is compared and written: an import running alongside cannot pair a new position with
    the zone of the old one. Only `zone` is written (and, by the database, the rate it sets).
    """
    zone_ids = dict(RateZone.objects.values_list("code", "pk"))
    candidates = (ParkingSpot.objects.all() if spots is None else spots).filter(zone_pinned=False)
    changed, last_pk = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                rows_lock(
                    candidates.filter(pk__gt=last_pk)
                    .order_by("pk")
                    .only("pk", "lat", "lng", "street", "zone_id")
                )[:batch_size]
            )
            if not batch:
                return changed
            moves: defaultdict[int | None, list[int]] = defaultdict(list)
            for spot in batch:
                code = zone_code_for(lat=spot.lat, lng=spot.lng, street=spot.street)
                if (zone_id := zone_ids.get(code)) != spot.zone_id:
                    moves[zone_id].append(spot.pk)
            for zone_id, pks in moves.items():
                changed += ParkingSpot.objects.filter(pk__in=pks).update(zone_id=zone_id)
        last_pk = batch[-1].pk


def parking_spot_pin_zone(*, spots: QuerySet[ParkingSpot], zone: RateZone) -> int:
    """Put spots in `zone` by hand (a retail corridor, a correction) and keep the rule off them.

    Returns how many changed, so repeating it is harmless.
    """
    return spots.exclude(zone=zone, zone_pinned=True).update(zone=zone, zone_pinned=True)


@transaction.atomic
def parking_spot_unpin_zones(*, spots: QuerySet[ParkingSpot]) -> int:
    """Hand pinned spots back to the rule, which zones them again at once; returns how many."""
    pinned = list(spots.filter(zone_pinned=True).values_list("pk", flat=True))
    ParkingSpot.objects.filter(pk__in=pinned).update(zone_pinned=False)
    parking_spot_assign_zones(spots=ParkingSpot.objects.filter(pk__in=pinned))
    return len(pinned)


# Manhattan's spine, from the Battery to Harlem; demo spots scatter across it.
DEMO_SOUTH = (40.7033, -74.0170)
DEMO_NORTH = (40.8076, -73.9460)
DEMO_HALF_WIDTH_DEGREES = 0.006


def parking_spot_seed_demo(*, count: int = 500, seed: int = 2026) -> int:
    """A synthetic inventory for a fresh development database; does nothing if spots exist.

    Returns how many spots it created. The positions are deterministic for a given seed.
    """
    if ParkingSpot.objects.exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo positions, not a secret
    zone_ids = dict(RateZone.objects.values_list("code", "pk"))
    spots = []
    for number in range(1, count + 1):
        # Metered around the clock: a demo booking is billed whatever the hour it is tried.
        hours = rng.choice((1, 2, 3))
        along, across = rng.random(), rng.uniform(-1, 1) * DEMO_HALF_WIDTH_DEGREES
        lat = DEMO_SOUTH[0] + along * (DEMO_NORTH[0] - DEMO_SOUTH[0]) + across
        lng = DEMO_SOUTH[1] + along * (DEMO_NORTH[1] - DEMO_SOUTH[1]) - across
        spots.append(
            ParkingSpot(
                lat=Decimal(f"{lat:.6f}"),
                lng=Decimal(f"{lng:.6f}"),
                borough="Manhattan",
                street=f"Demo spot {number}",
                zone_id=zone_ids.get(zone_code_for(lat=lat, lng=lng)),
                meter_hours=f"{hours}HR Pas Mon-Sun 0000-2400",
                time_limit_minutes=hours * 60,
            )
        )
    ParkingSpot.objects.bulk_create(spots)
    return len(spots)
