"""django-axes hooks for the admin's login form (the API's sign-in has its own backoff)."""

from axes.helpers import get_cool_off
from django.http import HttpRequest, JsonResponse

from users.models import normalize_email


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
