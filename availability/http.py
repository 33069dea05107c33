"""Conditional GETs for the spot routes: the version decides, the list is built only on a miss.

The ETag is strong: one version and one set of parameters serve one cached body (two
workers building it at once store answers of the same version, the later one at most
newer). `no-cache` lets the browser and nginx keep a copy but revalidate it on every use,
so a poll that finds nothing new costs one primary-key read and a 304. Last-Modified is
informational: two changes within one second share it, so only the ETag may answer 304.
"""

import hashlib
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, quote_etag

from availability.selectors import (
    availability_body_cached,
    availability_search_body,
    availability_version_get,
)
from availability.types import CoveredSearch, Version

CACHE_CONTROL = "public, no-cache"


def _validators(response: HttpResponse, *, etag: str, version: Version) -> HttpResponse:
    response.headers["ETag"] = etag
    response.headers["Last-Modified"] = http_date(version.changed_at.timestamp())
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def conditional_json(
    request: HttpRequest,
    *,
    variant: str,
    build: Callable[[], bytes | str] | None = None,
    search: CoveredSearch | None = None,
) -> HttpResponse:
    """A 304 when the client's copy of this variant (normalised parameters) is current;
    otherwise the variant's body for this version: the all-spots body `build` makes, built
    once and shared by every worker, or a `search` trimmed from its shared cover.

    nginx's gzip turns the ETag weak (W/"..."); If-None-Match compares weakly, so the
    client's weak copy still matches.
    """
    version = availability_version_get()
    tag = str(version.number)
    if variant:
        tag += "-" + hashlib.blake2b(variant.encode(), digest_size=8).hexdigest()
    etag = quote_etag(tag)
    not_modified = get_conditional_response(request, etag=etag)
    if not_modified is not None:
        return _validators(not_modified, etag=etag, version=version)
    if search is not None:
        body = availability_search_body(version=version, tag=tag, search=search)
    else:
        body = availability_body_cached(
            version=version,
            tag=tag,
            build=build,
            timeout=settings.AVAILABILITY_SNAPSHOT_TTL_SECONDS,
        )
    response = HttpResponse(body, content_type="application/json")
    return _validators(response, etag=etag, version=version)
