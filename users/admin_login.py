"""django-axes hooks for the admin's login form (the API's sign-in has its own backoff)."""

from axes.helpers import get_cool_off
from django.http import HttpRequest, JsonResponse
from rest_framework.throttling import BaseThrottle

from users.models import normalize_email


def client_ip(request: HttpRequest) -> str | None:
    """The client address as the API's throttles see it (NUM_PROXIES decides how much of
    X-Forwarded-For to trust), so axes counts per real client behind the deploy's nginx."""
    return BaseThrottle().get_ident(request)


def client_username(request: HttpRequest, credentials: dict | None) -> str:
    """The e-mail as typed in any case counts as one user name."""
    username = (credentials or {}).get("username") or request.POST.get("username") or ""
    return normalize_email(username)


def lockout_response(request: HttpRequest, original_response, credentials: dict | None):
    cool_off = get_cool_off(request)
    response = JsonResponse(
        {"detail": "Too many failed sign-ins from here for this account; try again later."},
        status=429,
    )
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
