"""Rate zones: the seed rates, the assignment rule on known places and real meters, the
importer and `assign_zones`, the admin, and the migration that zones existing spots."""

import csv
import math
import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from parking_spots.holidays import nyc_meter_holidays
from parking_spots.models import Holiday, ParkingSpot, RateZone
from parking_spots.nyc_meters import MeterRecord, SkipRow, parse_row
from parking_spots.selectors import zone_rates_for, zone_spot_counts
from parking_spots.services import parking_spot_assign_zones
from parking_spots.zones import MANHATTAN, manhattan_grid, zone_code_for
from testing.factories import ParkingSpotFactory, UserFactory
from tests.parking_spots.conftest import DATA, SEED, import_file

BEFORE_ZONES = [("parking_spots", "0002_point_index")]
ZONES_ADMIN = "/admin/parking_spots/ratezone/"
SPOTS_ADMIN = "/admin/parking_spots/parkingspot/"

TIMES_SQUARE = (Decimal("40.758000"), Decimal("-73.985500"))
UPPER_WEST_SIDE_80TH = (Decimal("40.783000"), Decimal("-73.976200"))
AMSTERDAM_100TH = (Decimal("40.796700"), Decimal("-73.968500"))
FULTON_MALL = (Decimal("40.690500"), Decimal("-73.986000"))
BAYSIDE = (Decimal("40.763000"), Decimal("-73.771000"))


def export_records(path: Path) -> dict[str, MeterRecord]:
    """The export's importable meters by number, read by the importer's own row parser."""
    records = {}
    with path.open(encoding="utf-8", newline="") as csv_file:
        for row in csv.DictReader(csv_file):
            try:
                record = parse_row(row)
            except SkipRow:
                continue
            if record.active:
                records[record.meter_number] = record
    return records


# Seed data


@pytest.mark.django_db
def test_seed_rates_are_dots_2023_passenger_rates() -> None:
    rates = {
        zone.code: (zone.first_hour_cents, zone.later_hour_cents) for zone in RateZone.objects.all()
    }

    assert rates == {
        "midtown-core": (550, 900),
        "manhattan-below-96": (500, 825),
        "manhattan-96-110": (300, 500),
        "business-district": (250, 500),
        "retail": (200, 300),
        "elsewhere": (150, 250),
    }
    assert all(zone.description for zone in RateZone.objects.all())


def test_reseeding_never_overwrites_an_operators_rate(rate_zones) -> None:
    RateZone.objects.filter(code="retail").update(first_hour_cents=275)

    SEED.seed_rate_zones(apps, None)

    assert RateZone.objects.get(code="retail").first_hour_cents == 275
    assert RateZone.objects.count() == 6


# The rule on known places


@pytest.mark.parametrize(
    ("place", "zone"),
    [
        (TIMES_SQUARE, "midtown-core"),
        (UPPER_WEST_SIDE_80TH, "manhattan-below-96"),
        (AMSTERDAM_100TH, "manhattan-96-110"),
        (FULTON_MALL, "business-district"),
        (BAYSIDE, "elsewhere"),
        ((40.7070, -74.0110), "midtown-core"),  # Wall Street at Broad Street
        ((40.7143, -73.9970), "manhattan-below-96"),  # Chinatown, north of the bridge
        ((40.7545, -73.9980), "manhattan-below-96"),  # Hudson Yards, west of 9th Avenue
        ((40.8090, -73.9480), "business-district"),  # 125th Street at 7th Avenue
        ((40.8160, -73.9400), "elsewhere"),  # Harlem, 135th Street
        ((40.8680, -73.9190), "elsewhere"),  # Inwood
        ((40.7020, -73.8000), "business-district"),  # Jamaica Avenue at 160th Street
        ((40.8620, -73.8980), "business-district"),  # Fordham Road at the Grand Concourse
        ((40.6430, -74.0760), "business-district"),  # St. George, by the ferry
        ((40.5800, -74.1500), "elsewhere"),  # Staten Island Mall
        ((40.6780, -73.9680), "elsewhere"),  # Prospect Heights, Brooklyn
    ],
)
def test_zone_of_known_places(place: tuple, zone: str) -> None:
    lat, lng = place
    assert zone_code_for(lat=lat, lng=lng) == zone
    assert zone_code_for(lat=float(lat), lng=float(lng)) == zone


def test_street_name_catches_125th_street_off_the_grid() -> None:
    # West of Amsterdam Avenue 125th Street bends north-west: by position, 127th.
    lat, lng = Decimal("40.8138959"), Decimal("-73.9557665")

    assert manhattan_grid(float(lat), float(lng)).street > 127
    assert zone_code_for(lat=lat, lng=lng) == "elsewhere"
    assert zone_code_for(lat=lat, lng=lng, street="West 125 Street") == "business-district"
    assert zone_code_for(lat=lat, lng=lng, street="W 125th St") == "business-district"
    # A street name alone moves nothing below 110th Street or off the island.
    assert zone_code_for(lat=TIMES_SQUARE[0], lng=TIMES_SQUARE[1], street="125 Street") == (
        "midtown-core"
    )
    assert zone_code_for(lat=BAYSIDE[0], lng=BAYSIDE[1], street="125 Street") == "elsewhere"


def test_midtown_core_corners_of_the_docstring() -> None:
    for lat, lng, street, crosstown in [
        (40.75346, -73.99639, 34, -1395),
        (40.74384, -73.97362, 34, 803),
        (40.75969, -73.96199, 59, 803),
        (40.76931, -73.98477, 59, -1395),
    ]:
        position = manhattan_grid(lat, lng)
        assert position.street == pytest.approx(street, abs=0.01)
        assert position.crosstown_m == pytest.approx(crosstown, abs=1)
        assert zone_code_for(lat=lat, lng=lng) == "midtown-core"


# The rule on real meters of the export

REAL_METERS = {
    # The Midtown core's edges: 9th and 1st Avenues, 34th and 59th Streets are inside.
    "1409955": "midtown-core",  # 9 Avenue, West 45-46 Street
    "1443828": "manhattan-below-96",  # West 42 Street, 9-10 Avenue
    "1443195": "midtown-core",  # West 34 Street, 8-9 Avenue
    "1443324": "manhattan-below-96",  # Madison Avenue, East 33-34 Street
    "1263012": "midtown-core",  # 1 Avenue, East 53-54 Street
    "1263120": "manhattan-below-96",  # East 55 Street, Sutton Place South-1 Avenue
    "1173009": "midtown-core",  # West 59 Street, 7 Avenue-6 Avenue
    "1403090": "manhattan-below-96",  # Columbus Avenue, West 60-61 Street
    # Lower Manhattan is M1 too, south of Chambers Street and the Brooklyn Bridge.
    "1483074": "midtown-core",  # Wall Street, William-Pearl Street
    "1113047": "midtown-core",  # Murray Street, Church Street-West Broadway
    "1023157": "manhattan-below-96",  # East Broadway, Rutgers-Jefferson Street
    # 96th and 110th Streets.
    "1033070": "manhattan-below-96",  # Columbus Avenue, West 79-80 Street
    "1033063": "manhattan-below-96",  # Columbus Avenue, West 95-96 Street
    "1038134": "manhattan-96-110",  # Amsterdam Avenue, West 96-97 Street
    "1038139": "manhattan-96-110",  # Amsterdam Avenue, West 97-100 Street
    "1263091": "elsewhere",  # 2 Avenue, East 111-112 Street
    "1013028": "business-district",  # West 125 Street, 7 Avenue-Lenox Avenue
    "1013012": "business-district",  # West 125 Street, Broadway-Amsterdam Avenue (by name)
    # Business districts outside Manhattan, and a street leading out of one.
    "3013628": "business-district",  # Livingston Street, Downtown Brooklyn
    "4061131": "business-district",  # Main Street, 37-38 Avenue, Flushing
    "4063003": "elsewhere",  # Main Street, Elder-Cherry Avenue, south of it
    "4033045": "business-district",  # Jamaica Avenue, 150-153 Street
    "4152054": "business-district",  # Jackson Avenue, Long Island City
    "2013159": "business-district",  # East Fordham Road, Marion-Webster Avenue
    "2023007": "business-district",  # East 149 Street, Morris-Courtlandt Avenue (The Hub)
    "5023026": "business-district",  # Bay Street, St. George
    "4072273": "elsewhere",  # 30 Avenue, Astoria: residential Queens
    # The Borough column contradicts the position: the position (and the street) wins.
    "4073063": "elsewhere",  # "Manhattan", 34 Avenue in Queens
    "1113054": "manhattan-below-96",  # "Queens", Church Street in Tribeca
}


def test_zone_of_real_meters(full_export: Path) -> None:
    records = export_records(full_export)

    zones = {
        number: zone_code_for(
            lat=records[number].lat, lng=records[number].lng, street=records[number].street
        )
        for number in REAL_METERS
    }

    assert zones == REAL_METERS


_NUMBERED = re.compile(r"(?:East|West) (\d+) Street")


def test_grid_model_places_the_exports_grid_meters(full_export: Path) -> None:
    """The calibration claim of the zones module: within 0.22 of a street (rms)."""
    misses = []
    for record in export_records(full_export).values():
        if not MANHATTAN.contains(float(record.lat), float(record.lng)):
            continue
        on = _NUMBERED.fullmatch(record.street)
        ends = [_NUMBERED.fullmatch(name) for name in (record.from_street, record.to_street)]
        if on:
            street = int(on.group(1))
        elif "Avenue" in record.street and all(ends):
            first, second = (int(end.group(1)) for end in ends)
            if abs(first - second) != 1:
                continue
            street = (first + second) / 2
        else:
            continue
        if 14 <= street <= 155:
            misses.append(manhattan_grid(float(record.lat), float(record.lng)).street - street)

    assert len(misses) > 2500
    assert math.sqrt(sum(miss * miss for miss in misses) / len(misses)) < 0.22
    assert max(map(abs, misses)) < 2.7


def test_island_outline_agrees_with_every_meter_number(full_export: Path) -> None:
    """Manhattan's meter numbers start with 1; the export's Borough column errs, these don't."""
    records = export_records(full_export).values()

    disagree = [
        record.meter_number
        for record in records
        if MANHATTAN.contains(float(record.lat), float(record.lng))
        != record.meter_number.startswith("1")
    ]

    assert disagree == []


# The importer and assign_zones


@pytest.mark.django_db
def test_importer_zones_each_spot(rate_zones) -> None:
    import_file(DATA / "meters_quirks.csv")

    zones = dict(ParkingSpot.objects.values_list("meter_number", "zone__code"))
    assert zones["1000001"] == "midtown-core"  # West 45 Street
    assert zones["3000001"] == "elsewhere"  # Vanderbilt Avenue, Prospect Heights
    assert zones["2000001"] == "business-district"  # Fordham Road
    assert None not in zones.values()


@pytest.mark.django_db
def test_reimport_rezones_a_moved_meter_but_never_a_pinned_one(rate_zones) -> None:
    import_file(DATA / "meters_quirks.csv")
    ParkingSpot.objects.filter(meter_number="1000002").update(
        zone=rate_zones["retail"], zone_pinned=True
    )
    # Moved away, and a zone from elsewhere: the importer puts both back.
    ParkingSpot.objects.filter(meter_number="1000001").update(
        lat=Decimal("40.700000"), zone=rate_zones["elsewhere"]
    )

    summary = import_file(DATA / "meters_quirks.csv")

    assert summary.updated == 1
    assert ParkingSpot.objects.get(meter_number="1000001").zone.code == "midtown-core"
    pinned = ParkingSpot.objects.get(meter_number="1000002")
    assert (pinned.zone.code, pinned.zone_pinned) == ("retail", True)


@pytest.mark.django_db
def test_assign_zones_command_is_idempotent_and_counts(rate_zones) -> None:
    spots = [
        ParkingSpotFactory(lat=TIMES_SQUARE[0], lng=TIMES_SQUARE[1]),
        ParkingSpotFactory(lat=AMSTERDAM_100TH[0], lng=AMSTERDAM_100TH[1]),
        ParkingSpotFactory(lat=BAYSIDE[0], lng=BAYSIDE[1], zone=rate_zones["midtown-core"]),
        ParkingSpotFactory(lat=BAYSIDE[0], lng=BAYSIDE[1]),
    ]
    pinned = ParkingSpotFactory(
        lat=BAYSIDE[0], lng=BAYSIDE[1], zone=rate_zones["retail"], zone_pinned=True
    )
    updated_at = {spot.pk: spot.updated_at for spot in ParkingSpot.objects.all()}

    first, second = StringIO(), StringIO()
    call_command("assign_zones", "--batch-size", "2", stdout=first)
    call_command("assign_zones", stdout=second)

    assert "changed      4" in first.getvalue()
    assert "changed      0" in second.getvalue()
    for count, code in [(1, "midtown-core"), (1, "manhattan-96-110"), (2, "elsewhere")]:
        assert f"  {count:>6}  {code}" in second.getvalue()
    assert f"  {1:>6}  retail" in second.getvalue()
    assert "not zoned" not in second.getvalue()
    zones = dict(ParkingSpot.objects.values_list("pk", "zone__code"))
    assert [zones[spot.pk] for spot in spots] == [
        "midtown-core",
        "manhattan-96-110",
        "elsewhere",
        "elsewhere",
    ]
    assert zones[pinned.pk] == "retail"
    # The public JSON carries no zone: a spot's `updated_at` stays as it was.
    assert {spot.pk: spot.updated_at for spot in ParkingSpot.objects.all()} == updated_at


@pytest.mark.django_db
def test_zone_rates_for_an_unzoned_spot_are_elsewhere(rate_zones) -> None:
    unzoned = ParkingSpotFactory()
    zoned = ParkingSpotFactory(zone=rate_zones["manhattan-96-110"])
    RateZone.objects.filter(code="manhattan-96-110").update(first_hour_cents=325)

    assert zone_rates_for(spot=unzoned).code == "elsewhere"
    assert zone_rates_for(spot=zoned).first_hour_cents == 325


@pytest.mark.django_db
def test_zone_distribution_over_the_whole_export(full_export: Path, rate_zones) -> None:
    import_file(full_export)

    counts = zone_spot_counts()

    assert counts == {
        "midtown-core": 1067,
        "manhattan-below-96": 2397,
        "manhattan-96-110": 148,
        "business-district": 807,
        "retail": 0,
        "elsewhere": 8822,
        None: 0,
    }
    assert sum(counts.values()) == ParkingSpot.objects.count()
    assert parking_spot_assign_zones() == 0


# The admin


def _staff_client(*codenames: str) -> Client:
    user = UserFactory(is_staff=True)
    for codename in codenames:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label="parking_spots", codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def _zone_form(zone: RateZone, **changes) -> dict:
    return {
        "name": zone.name,
        "first_hour_cents": zone.first_hour_cents,
        "later_hour_cents": zone.later_hour_cents,
        "description": zone.description,
    } | changes


@pytest.mark.django_db
def test_staff_edits_a_rate_in_the_admin(rate_zones) -> None:
    zone = rate_zones["retail"]
    ParkingSpotFactory.create_batch(2, zone=zone)
    staff = _staff_client("view_ratezone", "change_ratezone")

    listing = staff.get(ZONES_ADMIN)
    changed = staff.post(f"{ZONES_ADMIN}{zone.pk}/change/", _zone_form(zone, later_hour_cents=350))
    refused = staff.post(f"{ZONES_ADMIN}{zone.pk}/change/", _zone_form(zone, first_hour_cents=0))

    assert listing.status_code == 200
    assert {row.code: row.spot_count for row in listing.context["cl"].result_list}["retail"] == 2
    assert "$2.00" in listing.content.decode()
    assert changed.status_code == 302
    assert refused.status_code == 200 and "first_hour_cents" in refused.context["adminform"].errors
    zone.refresh_from_db()
    assert (zone.first_hour_cents, zone.later_hour_cents) == (200, 350)


@pytest.mark.django_db
def test_zones_cannot_be_added_deleted_or_recoded(rate_zones, admin_client) -> None:
    zone = rate_zones["elsewhere"]
    form = _zone_form(zone) | {"code": "cheap"}

    assert admin_client.get(f"{ZONES_ADMIN}add/").status_code == 403
    assert admin_client.post(f"{ZONES_ADMIN}{zone.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"{ZONES_ADMIN}{zone.pk}/change/", form).status_code == 302
    assert RateZone.objects.filter(code="elsewhere").exists()
    # Without the permission, no edit.
    viewer = _staff_client("view_ratezone")
    assert viewer.post(f"{ZONES_ADMIN}{zone.pk}/change/", _zone_form(zone)).status_code == 403


@pytest.mark.django_db
def test_spot_admin_filters_by_zone_and_pins_by_hand(rate_zones, admin_client) -> None:
    core = ParkingSpotFactory(zone=rate_zones["midtown-core"])
    shop = ParkingSpotFactory(lat=BAYSIDE[0], lng=BAYSIDE[1], zone=rate_zones["elsewhere"])
    other = ParkingSpotFactory(lat=BAYSIDE[0], lng=BAYSIDE[1], zone=rate_zones["elsewhere"])

    filtered = admin_client.get(SPOTS_ADMIN, {"zone__id__exact": rate_zones["midtown-core"].pk})
    pinned = admin_client.post(
        SPOTS_ADMIN,
        {"action": "pin_zone", "zone": rate_zones["retail"].pk, "_selected_action": [shop.pk]},
        follow=True,
    )
    no_zone = admin_client.post(
        SPOTS_ADMIN, {"action": "pin_zone", "zone": "", "_selected_action": [other.pk]}, follow=True
    )
    call_command("assign_zones", stdout=StringIO())

    assert [spot.pk for spot in filtered.context["cl"].result_list] == [core.pk]
    assert "1 parking spot(s) pinned to Neighborhood retail districts" in pinned.content.decode()
    assert "Choose the zone" in no_zone.content.decode()
    shop.refresh_from_db()
    other.refresh_from_db()
    assert (shop.zone.code, shop.zone_pinned) == ("retail", True)
    assert (other.zone.code, other.zone_pinned) == ("elsewhere", False)

    admin_client.post(
        SPOTS_ADMIN, {"action": "unpin_zone", "_selected_action": [shop.pk]}, follow=True
    )
    shop.refresh_from_db()
    assert (shop.zone.code, shop.zone_pinned) == ("elsewhere", False)


@pytest.mark.django_db
def test_choosing_a_zone_in_the_spot_form_pins_it(rate_zones, admin_client) -> None:
    spot = ParkingSpotFactory(lat=BAYSIDE[0], lng=BAYSIDE[1], zone=rate_zones["elsewhere"])
    saved_at = spot.updated_at
    page = admin_client.get(f"{SPOTS_ADMIN}{spot.pk}/change/")
    form = {
        name: value
        for name, value in page.context["adminform"].form.initial.items()
        if value is not None
    } | {"zone": rate_zones["retail"].pk, "time_limit_minutes": 120}

    response = admin_client.post(f"{SPOTS_ADMIN}{spot.pk}/change/", form)
    call_command("assign_zones", stdout=StringIO())

    assert response.status_code == 302
    spot.refresh_from_db()
    assert (spot.zone.code, spot.zone_pinned) == ("retail", True)
    assert spot.updated_at > saved_at  # an edit stamps the spot, as auto_now did


# The migration


@pytest.mark.django_db(transaction=True)
def test_migration_zones_the_spots_already_imported() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_ZONES)
    try:
        old = executor.loader.project_state(BEFORE_ZONES).apps.get_model(
            "parking_spots", "ParkingSpot"
        )
        places = {
            "times-square": TIMES_SQUARE,
            "upper-west-side": UPPER_WEST_SIDE_80TH,
            "amsterdam-100th": AMSTERDAM_100TH,
            "fulton-mall": FULTON_MALL,
            "bayside": BAYSIDE,
        }
        rows = {
            name: old.objects.create(
                lat=lat, lng=lng, rate="4.50", street=name, meter_number=f"19{n:05}"
            )
            for n, (name, (lat, lng)) in enumerate(places.items())
        }
        updated_at = dict(old.objects.values_list("pk", "updated_at"))
    finally:
        # Forward again even when the above fails: later tests need the current schema.
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    zones = {name: ParkingSpot.objects.get(pk=row.pk).zone.code for name, row in rows.items()}
    assert zones == {
        "times-square": "midtown-core",
        "upper-west-side": "manhattan-below-96",
        "amsterdam-100th": "manhattan-96-110",
        "fulton-mall": "business-district",
        "bayside": "elsewhere",
    }
    assert dict(ParkingSpot.objects.values_list("pk", "updated_at")) == updated_at
    assert RateZone.objects.count() == 6
    assert Holiday.objects.count() == sum(
        len(nyc_meter_holidays(year)) for year in range(2026, 2031)
    )
