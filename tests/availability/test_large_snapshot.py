"""An all-spots body too large to hold whole in a process (a million spots' 292 MB): built in
pieces into Redis, published whole, streamed out part by part, compressed as it streams;
Redis down, streamed as it is built (tests/resilience/test_redis.py)."""

import gzip
import json
import logging

import brotli
import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from availability.selectors import (
    PARTS_SUFFIX,
    SNAPSHOT_KEY,
    _latest_bodies,
    _snapshot_store_parts,
    availability_version_get,
)
from availability.spot_json import spots_snapshot_json
from tests.availability.test_compression import ALL, bump, rows, scatter, serializer_output

pytestmark = pytest.mark.django_db(transaction=True)


# 40 spots: ~12 KB of objects and ~6 KB by column count as large, their compressed copies
# (~1-2 KB) as small.
LARGE_PAST = 4000


@pytest.fixture
def large(monkeypatch) -> None:
    """Bodies past LARGE_PAST bytes count as large, in parts of 300 bytes and pieces of 3
    spots."""
    scatter()
    _latest_bodies.clear()
    monkeypatch.setattr("availability.selectors.LATEST_BODIES_MAX_BYTES", LARGE_PAST)
    monkeypatch.setattr("availability.selectors.SNAPSHOT_PART_BYTES", 300)
    monkeypatch.setattr("availability.spot_json.SNAPSHOT_PIECE_SPOTS", 3)


def parts_key(tag: str) -> str:
    return cache.make_key(SNAPSHOT_KEY.format(tag=tag)) + PARTS_SUFFIX


def raw_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def streamed(response) -> bytes:
    assert response.streaming, "a large body goes out in pieces"
    return b"".join(response.streaming_content)


def test_a_large_body_is_stored_in_parts_and_streamed_with_its_length(api_client, large):
    first = api_client.get(ALL)
    body = streamed(first)

    assert body == serializer_output() and len(body) > LARGE_PAST
    assert int(first["Content-Length"]) == len(body)
    assert not _latest_bodies  # never whole in this process
    tag = first["ETag"].strip('"')
    stored = raw_redis().hgetall(parts_key(tag))
    parts = int(stored.pop(b"parts"))
    assert int(stored.pop(b"length")) == len(body) and parts == len(stored) > 1
    assert b"".join(stored[str(number).encode()] for number in range(parts)) == body
    assert not list(raw_redis().scan_iter(match="*:building:*"))

    again = api_client.get(ALL)
    assert streamed(again) == body and again["ETag"] == first["ETag"]
    assert api_client.get(ALL, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304


@pytest.mark.parametrize(
    ("accept", "decompress"), [("br", brotli.decompress), ("gzip", gzip.decompress)]
)
def test_a_large_body_is_compressed_as_it_streams(api_client, large, accept, decompress):
    response = api_client.get(ALL, HTTP_ACCEPT_ENCODING=accept)

    assert response["Content-Encoding"] == accept
    assert len(response.content) < LARGE_PAST < len(serializer_output())  # held whole
    assert decompress(response.content) == serializer_output()
    assert list(_latest_bodies) == [response["ETag"].strip('"')]


def test_the_columnar_shape_streams_too(api_client, large):
    response = api_client.get(ALL + "?format=columnar")

    assert rows(json.loads(streamed(response))) == json.loads(serializer_output())


def test_two_builds_of_one_version_publish_one_of_them(api_client, large):
    """The first build stands: a reader streaming it never gets another build's parts."""
    version = availability_version_get()
    tag = str(version.number)
    client = cache._cache.get_client(write=True)

    def build_with(street: bytes):
        return lambda: (piece.replace(b"Broadway", street) for piece in spots_snapshot_json())

    first = _snapshot_store_parts(
        client, version=version, tag=tag, pieces=build_with(b"First")(), head=[], build=None
    )
    second = _snapshot_store_parts(
        client, version=version, tag=tag, pieces=build_with(b"Other")(), head=[], build=None
    )

    assert b"".join(first.pieces) == b"".join(second.pieces)
    assert streamed(api_client.get(ALL)).count(b'"street":"First"') == 40
    assert not list(raw_redis().scan_iter(match="*:building:*"))


def test_a_body_pruned_while_it_streams_is_cut_short_and_logged(api_client, large, caplog):
    response = api_client.get(ALL)
    pieces = iter(response.streaming_content)
    sent = next(pieces)
    for _ in range(2):  # two newer versions: this one is pruned
        bump()
        streamed(api_client.get(ALL))

    with caplog.at_level(logging.WARNING, logger="availability.selectors"):
        rest = b"".join(pieces)

    assert len(sent) + len(rest) < int(response["Content-Length"])
    assert "pruned while it was being sent" in caplog.text
