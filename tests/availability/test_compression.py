"""Smaller answers: compressed once per version, an ETag per encoding, the columnar shape,
and Redis holding the all-spots snapshot of two versions at most."""

import gzip
import json
import random
from decimal import Decimal

import brotli
import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from availability.encoding import encoding_accepted
from availability.selectors import (
    _latest_bodies,
    availability_snapshot_body,
    availability_version_get,
    parking_spot_list_available_near,
)
from availability.spot_json import SPOT_FIELDS, spots_json
from parking_spots.geo import Unit
from parking_spots.models import ParkingSpot
from tests.availability.test_snapshot import serializer_output

pytestmark = pytest.mark.django_db(transaction=True)

ALL = "/available-parking-spots/"
NEAR = "/available-parking-spots-filter/?lat=40.758&long=-73.9855&unit=km&dist=5"
DECOMPRESS = {"br": brotli.decompress, "gzip": gzip.decompress}


def scatter(count: int = 40) -> None:
    rng = random.Random(18)
    ParkingSpot.objects.bulk_create(
        ParkingSpot(
            lat=Decimal(f"{40.758 + rng.uniform(-0.01, 0.01):.6f}"),
            lng=Decimal(f"{-73.9855 + rng.uniform(-0.01, 0.01):.6f}"),
            rate=Decimal("4.50"),
            street="Broadway",
        )
        for _ in range(count)
    )


def rows(columnar: dict[str, list]) -> list[dict]:
    columns = zip(*columnar.values(), strict=True)
    return [dict(zip(columnar, values, strict=True)) for values in columns]


def snapshot_keys() -> list[str]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return [key.decode() for key in client.scan_iter(match="*availability:snapshot:*")]


def bump() -> None:
    spot = ParkingSpot.objects.order_by("id").first()
    ParkingSpot.objects.filter(pk=spot.pk).update(rate=spot.rate + Decimal("0.01"))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("br", "br"),
        ("gzip, deflate, br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),
        ("x-gzip", "gzip"),
        ("*", "br"),
        ("*;q=0.1, br;q=0", "gzip"),
        ("identity", "identity"),
        ("gzip;q=0", "identity"),
        ("", "identity"),
        (";;;,,,", "identity"),
        ("br;q=abc", "identity"),
        ("gzip;q=2", "identity"),
        ("gzip;q=nan", "identity"),
        ("gzip;level=1", "identity"),
        ("\x00\xff br", "identity"),
    ],
)
def test_the_accepted_encoding(header, expected):
    assert encoding_accepted(header) == expected


def test_identity_clients_get_todays_answer(api_client):
    scatter()
    answer = api_client.get(ALL)
    assert answer.content == serializer_output()
    assert answer["ETag"] == f'"{availability_version_get().number}"'
    assert "Content-Encoding" not in answer
    assert "Accept-Encoding" in answer["Vary"]


@pytest.mark.parametrize(
    ("accept", "encoding", "suffix"), [("br", "br", "-br"), ("gzip", "gzip", "-gz")]
)
def test_each_encoding_is_compressed_once_and_revalidates_on_its_own_tag(
    api_client, accept, encoding, suffix
):
    scatter()
    identity = api_client.get(ALL)
    answer = api_client.get(ALL, HTTP_ACCEPT_ENCODING=accept)

    assert answer["Content-Encoding"] == encoding
    assert "Accept-Encoding" in answer["Vary"]
    assert answer["ETag"] == identity["ETag"][:-1] + suffix + '"'
    assert DECOMPRESS[encoding](answer.content) == identity.content == serializer_output()
    assert len(answer.content) < len(identity.content) / 4
    # The compressed body is shared like the identity one: Redis holds it under its tag.
    tag = answer["ETag"].strip('"')
    assert cache.make_key(f"availability:snapshot:{tag}") in snapshot_keys()

    for tag in (answer["ETag"], "W/" + answer["ETag"]):  # nginx may have made it weak
        again = api_client.get(ALL, HTTP_ACCEPT_ENCODING=accept, HTTP_IF_NONE_MATCH=tag)
        assert again.status_code == 304 and again["ETag"] == answer["ETag"]
        assert "Accept-Encoding" in again["Vary"]
    # A copy in another encoding is another representation: the full answer, not a 304.
    other = api_client.get(ALL, HTTP_ACCEPT_ENCODING=accept, HTTP_IF_NONE_MATCH=identity["ETag"])
    assert other.status_code == 200 and other["ETag"] == answer["ETag"]
    plain = api_client.get(ALL, HTTP_IF_NONE_MATCH=answer["ETag"])
    assert plain.status_code == 200 and plain.content == identity.content


def test_br_refused_means_gzip_and_garbage_means_identity(api_client):
    scatter()
    assert api_client.get(ALL, HTTP_ACCEPT_ENCODING="br;q=0, gzip")["Content-Encoding"] == "gzip"
    for garbage in ("br;q=zzz", ";,;=", "gzip;q=-1", "é" * 3000):
        answer = api_client.get(ALL, HTTP_ACCEPT_ENCODING=garbage)
        assert answer.status_code == 200 and answer.content == serializer_output()
        assert "Content-Encoding" not in answer


def test_redis_holds_two_versions_of_the_snapshot_at_most(api_client):
    scatter()
    for _ in range(6):
        bump()
        api_client.get(ALL)
    assert len(snapshot_keys()) == 2

    for _ in range(4):
        bump()
        for accept in ("", "br", "gzip"):
            api_client.get(ALL, HTTP_ACCEPT_ENCODING=accept)
            api_client.get(ALL + "?format=columnar", HTTP_ACCEPT_ENCODING=accept)
    keys = snapshot_keys()
    versions = {key.rsplit(":", 1)[1].split("-")[0] for key in keys}
    current = availability_version_get().number
    assert versions == {str(current), str(current - 1)} or versions == {str(current)}
    assert len(keys) <= 12
    # This process keeps the newest version only.
    assert {tag.split("-")[0] for tag in _latest_bodies} == {str(current)}
    assert api_client.get(ALL).content == serializer_output()


def test_a_late_worker_storing_an_old_version_does_not_grow_redis(api_client):
    scatter()
    old = availability_version_get()
    for _ in range(3):
        bump()
        api_client.get(ALL)
    _latest_bodies.clear()

    api_client.get(ALL)
    availability_snapshot_body(
        version=old, tag=str(old.number), build=lambda: (piece for piece in [b"[]"])
    )
    assert str(old.number) not in _latest_bodies  # nor does it evict the newer bodies here
    assert api_client.get(ALL).content == serializer_output()

    current = availability_version_get().number
    tags = {key.rsplit(":", 1)[1] for key in snapshot_keys()}
    assert tags == {str(current), str(current - 1)} or tags == {str(current)}


def test_columnar_is_the_same_values_without_the_keys(api_client):
    scatter()
    objects = json.loads(serializer_output())
    answer = api_client.get(ALL + "?format=columnar")
    columnar = answer.json()

    assert list(columnar) == list(objects[0])
    assert rows(columnar) == objects
    assert answer["ETag"] == f'"{availability_version_get().number}-columnar"'
    assert len(answer.content) < len(serializer_output()) * 0.6
    compressed = api_client.get(ALL + "?format=columnar", HTTP_ACCEPT_ENCODING="gzip")
    assert gzip.decompress(compressed.content) == answer.content
    empty = api_client.get("/available-parking-spots/?bbox=1,1,2,2&format=columnar").json()
    assert list(empty) == list(objects[0]) and empty["id"] == []
    assert compressed["ETag"] == f'"{availability_version_get().number}-columnar-gz"'
    again = api_client.get(
        ALL + "?format=columnar", HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=compressed["ETag"]
    )
    assert again.status_code == 304
    assert api_client.get(ALL + "?format=json").content == serializer_output()


def test_columnar_searches_and_windows(api_client):
    scatter()
    near = api_client.get(NEAR).json()
    columnar = api_client.get(NEAR + "&format=columnar").json()
    assert list(columnar)[-1] == "distance"
    assert rows(columnar) == near

    viewport = ALL + "?bbox=40.75,-74.0,40.77,-73.97"
    columnar = api_client.get(viewport + "&format=columnar").json()
    assert rows(columnar) == api_client.get(viewport).json()

    window = api_client.get(NEAR + "&reservation_length=60&format=columnar")
    assert window.status_code == 200 and rows(window.json()) == near
    assert window["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize("value", ["geojson", "COLUMNAR", "columnar%00", "json,columnar"])
def test_a_bad_format_is_a_400_naming_it(api_client, value):
    for path in (ALL + "?", NEAR + "&"):
        answer = api_client.get(f"{path}format={value}")
        assert answer.status_code == 400 and "format" in answer.json()


def test_large_searches_are_gzipd_for_the_request_small_ones_are_not(api_client):
    scatter()
    identity = api_client.get(NEAR)
    answer = api_client.get(NEAR, HTTP_ACCEPT_ENCODING="gzip, br")

    assert len(identity.content) > 1024
    assert answer["Content-Encoding"] == "gzip" and "Accept-Encoding" in answer["Vary"]
    assert gzip.decompress(answer.content) == identity.content
    assert answer["ETag"] == identity["ETag"][:-1] + '-gz"'
    expected = parking_spot_list_available_near(lat=40.758, lng=-73.9855, dist=5, unit=Unit.KM)
    assert json.loads(identity.content) == json.loads(spots_json(expected, with_distance=True))
    for tag in (answer["ETag"], identity["ETag"]):  # either copy is current
        again = api_client.get(NEAR, HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=tag)
        assert again.status_code == 304 and again["ETag"] == tag

    small = api_client.get(NEAR.replace("dist=5", "dist=0.001"), HTTP_ACCEPT_ENCODING="gzip")
    assert small.content == b"[]" and "Content-Encoding" not in small

    window = api_client.get(NEAR + "&reservation_length=60", HTTP_ACCEPT_ENCODING="gzip")
    assert window["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(window.content)) == json.loads(identity.content)


def test_the_schema_documents_the_format(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    for path in ("/available-parking-spots/", "/available-parking-spots-filter/"):
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert sorted(parameters["format"]["schema"]["enum"]) == ["columnar", "json"]


def test_no_spots_is_empty_in_either_shape(api_client):
    assert api_client.get(ALL).json() == []
    assert api_client.get(ALL + "?format=columnar").json() == {name: [] for name in SPOT_FIELDS}
