"""Cross-cutting API behaviour from the contract's general rules.

Routes with and without trailing slash and JSON-only errors of the DRF shape; the JSON
parser is in secure_my_spot/parsers.py (DRF's settings import it while this module imports
DRF's views, so it cannot live here).
"""

import ipaddress
import sys
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, re_path
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.throttling import BaseThrottle
from rest_framework.views import exception_handler as drf_exception_handler

from secure_my_spot.exceptions import ApplicationError, DependencyError
from secure_my_spot.middleware import database_error_response

OPTIONAL_SLASH = "/?"


def route(pattern: str, view: Any, name: str) -> URLPattern:
    """Match `pattern` (a regex without anchors or trailing slash) with or without the slash.

    A redirect to the slashed URL would make browsers drop PATCH and DELETE bodies.
    """
    return re_path(rf"^{pattern}{OPTIONAL_SLASH}$", view, name=name)


def schema_paths_without_optional_slash(endpoints: list) -> list:
    """Show `/sign-up/` in the OpenAPI schema instead of the regex-ish `/sign-up/?`."""
    return [
        (path.removesuffix("?") if path.endswith("/?") else path, *rest)
        for path, *rest in endpoints
    ]


def unwrap(data: Any, key: str) -> dict:
    """The object under the contract's wrapper key (`credentials`, `reservation`).

    Errors inside it are reported under the inner field names, as the contract shows them.
    """
    if not isinstance(data, dict):
        raise exceptions.ValidationError({"detail": "Expected a JSON object."})
    inner = data.get(key)
    if not isinstance(inner, dict):
        raise exceptions.ValidationError({key: [f"An object under '{key}' is required."]})
    return inner


def client_address(request: HttpRequest | Request) -> str | None:
    """The client's IP address as the throttles count it (NUM_PROXIES honoured); None when
    the proxy chain gives something that is no address. Also axes' (admin login) client."""
    try:
        return str(ipaddress.ip_address(BaseThrottle().get_ident(request)))
    except ValueError:
        return None


class JSONOnlyNegotiation(BaseContentNegotiation):
    """JSON whatever the Accept header says: for hot routes that only ever answer JSON,
    where DRF's negotiation was a fifth of a cached answer's cost."""

    def select_parser(self, request: Request, parsers: list) -> object:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: list, format_suffix=None) -> tuple:
        return renderers[0], renderers[0].media_type


_validated_queries: dict[tuple[type, str], dict] = {}
VALIDATED_QUERIES_MAX = 1024


def validated_query_params(request: Request, serializer_class: type[Serializer]) -> dict:
    """`serializer_class`'s validated data for the request's query string.

    Memoised per process: map clients poll the same query string every few seconds, and
    validating it (a pure function of the string) was a fifth of a poll's cost. The result
    is shared: read it, never change it.
    """
    key = (serializer_class, request.META.get("QUERY_STRING", ""))
    data = _validated_queries.get(key)
    if data is None:
        serializer = serializer_class(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if len(_validated_queries) >= VALIDATED_QUERIES_MAX:
            _validated_queries.clear()
        _validated_queries[key] = data
    return data


def _too_large_message() -> str:
    return f"Request body too large: at most {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """The one place API errors become answers: a domain error carries its own status."""
    database_error = database_error_response(exc, Response)
    if database_error is not None:
        return database_error
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": _too_large_message()}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"detail": " ".join(exc.messages)}
        )
        exc = exceptions.ValidationError(detail)
    if isinstance(exc, ApplicationError):
        body = {exc.field: [exc.message]} if exc.field else {"detail": exc.message}
        # A field error may keep a `detail` too, after the field: clients that show the
        # first field's message and clients that read `detail` both get one.
        detail = getattr(exc, "detail", None)
        if exc.field and detail:
            body["detail"] = detail
        return Response(body, status=exc.status_code)
    if isinstance(exc, DependencyError):
        response = Response({"detail": exc.public_message}, status=exc.status_code)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, exceptions.ValidationError) and isinstance(exc.detail, list):
        exc.detail = {"detail": " ".join(str(message) for message in exc.detail)}
    return drf_exception_handler(exc, context)


def _json_error(message: str, status_code: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status_code)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, RequestDataTooBig):
        return _json_error(_too_large_message(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    return _json_error("Bad request.", status.HTTP_400_BAD_REQUEST)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error("You do not have permission to perform this action.", 403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error("Not found.", status.HTTP_404_NOT_FOUND)


def server_error(request: HttpRequest) -> JsonResponse:
    """Django calls it while handling the exception: a database error raised outside any
    view (a middleware saving the session) still gets its 409/503."""
    database_error = database_error_response(sys.exc_info()[1], JsonResponse)
    if database_error is not None:
        return database_error
    return _json_error("Internal server error.", status.HTTP_500_INTERNAL_SERVER_ERROR)
