"""The spot routes' own compression through the deploy stack's nginx: passed on untouched,
never compressed twice, the ETag per encoding kept strong."""

import gzip

import brotli

from testing.factories import ParkingSpotFactory
from tests.deploy.conftest import request

ALL = "/available-parking-spots/"


def test_nginx_passes_the_spot_routes_encodings_through(proxy_stack):
    https = proxy_stack["https_port"]
    ParkingSpotFactory.create_batch(20)
    headers = {"Host": "localhost"}
    identity = request(https, ALL, headers, tls=True)
    assert identity.status == 200 and identity.getheader("Content-Encoding") is None

    for accept, encoding, decompress in (
        ("br", "br", brotli.decompress),
        ("gzip", "gzip", gzip.decompress),
        ("br;q=0, gzip", "gzip", gzip.decompress),
    ):
        answer = request(https, ALL, {**headers, "Accept-Encoding": accept}, tls=True)
        assert answer.getheader("Content-Encoding") == encoding
        assert decompress(answer.body) == identity.body
        etag = answer.getheader("ETag")
        assert not etag.startswith("W/") and etag != identity.getheader("ETag")
        assert "Accept-Encoding" in answer.getheader("Vary")
        again = {**headers, "Accept-Encoding": accept, "If-None-Match": etag}
        assert request(https, ALL, again, tls=True).status == 304
