"""Conditional GETs for the spot routes: the version decides, the list is built only on a miss.

The ETag is strong: one version, one set of parameters and one encoding serve one cached
body (two workers building it at once store answers of the same version, the later one at
most newer). Each encoding has its own tag (`"<tag>-br"`, `"<tag>-gz"`; identity keeps the
bare tag), so If-None-Match answers 304 exactly per encoding. `no-cache` lets the browser
and nginx keep a copy but revalidate it on every use, so a poll that finds nothing new
costs one primary-key read and a 304. Last-Modified is informational: two changes within
one second share it, so only the ETag may answer 304.
"""

import hashlib
from collections.abc import Callable, Generator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.http import http_date, quote_etag

from availability.encoding import (
    COMPRESS_MIN_BYTES,
    ETAG_SUFFIX,
    GZIP,
    IDENTITY,
    encoding_accepted,
    encoding_compress,
    encoding_compress_pieces,
)
from availability.selectors import (
    availability_answer_body,
    availability_search_body,
    availability_snapshot_body,
    availability_version_get,
)
from availability.types import CoveredSearch, StreamedBody, Version

CACHE_CONTROL = "public, no-cache"


def _validators(
    response: HttpResponse | StreamingHttpResponse, *, etag: str, version: Version
) -> HttpResponse | StreamingHttpResponse:
    response.headers["ETag"] = etag
    response.headers["Last-Modified"] = http_date(version.changed_at.timestamp())
    response.headers["Cache-Control"] = CACHE_CONTROL
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def encoded_json(
    body: bytes | StreamedBody, *, encoding: str
) -> HttpResponse | StreamingHttpResponse:
    """`body`, already in `encoding`, as a JSON answer that says so; a body too large to
    hold whole goes out piece by piece as it is read."""
    if isinstance(body, StreamedBody):
        response = StreamingHttpResponse(body.pieces, content_type="application/json")
        if body.length is not None:
            response.headers["Content-Length"] = str(body.length)
    else:
        response = HttpResponse(body, content_type="application/json")
    if encoding != IDENTITY:
        response.headers["Content-Encoding"] = encoding
    return response


def fresh_json(request: HttpRequest, body: bytes | str) -> HttpResponse:
    """An answer built for this request only: gzip'd (quickly) when large and accepted."""
    body = body.encode() if isinstance(body, str) else body
    encoding = IDENTITY
    if len(body) >= COMPRESS_MIN_BYTES:
        encoding = encoding_accepted(request.headers.get("Accept-Encoding", ""), offered=(GZIP,))
    response = encoded_json(
        encoding_compress(body, encoding=encoding, fast=True), encoding=encoding
    )
    patch_vary_headers(response, ["Accept-Encoding"])
    return response


def conditional_json(
    request: HttpRequest,
    *,
    variant: str = "",
    shape: str = "",
    build: Callable[[], Generator[bytes, None, None]] | None = None,
    search: CoveredSearch | None = None,
    answer: Callable[[], bytes] | None = None,
) -> HttpResponse | StreamingHttpResponse:
    """A 304 when the client's copy of this variant (normalised parameters) and encoding is
    current; otherwise the variant's body for this version: the all-spots body `build` makes
    (`shape`: its ETag suffix), built and compressed once per encoding and shared by every
    worker, or a `search` trimmed from its shared cover, or a search `answer` built for it,
    gzip'd for this request.
    """
    version = availability_version_get()
    tag = str(version.number) + shape
    if variant:
        tag += "-" + hashlib.blake2b(variant.encode(), digest_size=8).hexdigest()
    accepted = request.headers.get("Accept-Encoding", "")
    searched = search is not None or answer is not None
    if not searched:
        encoding = encoding_accepted(accepted)
        candidates = [encoding]
    else:
        # A small answer goes as identity even to a gzip client: either copy may be current.
        encoding = encoding_accepted(accepted, offered=(GZIP,))
        candidates = list(dict.fromkeys([encoding, IDENTITY]))
    for candidate in candidates:
        etag = quote_etag(tag + ETAG_SUFFIX[candidate])
        not_modified = get_conditional_response(request, etag=etag)
        if not_modified is not None:
            return _validators(not_modified, etag=etag, version=version)
    if searched:
        if search is not None:
            body = availability_search_body(version=version, tag=tag, search=search)
        else:
            body = availability_answer_body(version=version, tag=tag, answer=answer)
        if len(body) < COMPRESS_MIN_BYTES:
            encoding = IDENTITY
        body = encoding_compress(body, encoding=encoding, fast=True)
    else:
        body = _snapshot(version=version, tag=tag, build=build, encoding=encoding)
    etag = quote_etag(tag + ETAG_SUFFIX[encoding])
    return _validators(encoded_json(body, encoding=encoding), etag=etag, version=version)


def _snapshot(
    *,
    version: Version,
    tag: str,
    build: Callable[[], Generator[bytes, None, None]],
    encoding: str,
) -> bytes | StreamedBody:
    def identity() -> bytes | StreamedBody:
        return availability_snapshot_body(version=version, tag=tag, build=build)

    def compressed() -> Generator[bytes, None, None]:
        body = identity()
        if isinstance(body, StreamedBody):
            yield from encoding_compress_pieces(body.pieces, encoding=encoding)
        else:
            yield encoding_compress(body, encoding=encoding)

    if encoding == IDENTITY:
        return identity()
    return availability_snapshot_body(
        version=version, tag=tag + ETAG_SUFFIX[encoding], build=compressed
    )
