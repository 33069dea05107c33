"""Lists that grow with history, paged when the client asks.

Without `limit` or `offset` a list answers the contract's bare array; with either, DRF's
limit/offset page `{"count", "next", "previous", "results"}` (at most MAX_LIMIT items, a
larger limit is lowered to it). A limit or offset that is not a number in range is a 400
naming it, never a silent first page.
"""

from collections.abc import Callable, Sequence

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

MAX_LIMIT = 100
# Past PostgreSQL's bigint, an OFFSET is an error; nobody's history is a billion rows long.
MAX_OFFSET = 1_000_000_000

PAGE_PARAMETERS = [
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description=f"Page size (1-{MAX_LIMIT}); with it or `offset` the answer is a page.",
    ),
    OpenApiParameter("offset", OpenApiTypes.INT, description="Items to skip (0 or more)."),
]


class _PageInput(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, required=False)
    offset = serializers.IntegerField(min_value=0, max_value=MAX_OFFSET, required=False)


class _LimitOffset(LimitOffsetPagination):
    default_limit = MAX_LIMIT
    max_limit = MAX_LIMIT


def list_response(
    request: Request, items: Sequence, serialize: Callable[[Sequence], list]
) -> Response:
    """`serialize` turns items (all of them, or a page) into the answer's list."""
    params = request.query_params
    if "limit" not in params and "offset" not in params:
        return Response(serialize(items))
    _PageInput(
        data={name: params[name] for name in ("limit", "offset") if name in params}
    ).is_valid(raise_exception=True)
    paginator = _LimitOffset()
    page = paginator.paginate_queryset(items, request)
    return paginator.get_paginated_response(serialize(page))
