"""How an enforcement client proves itself: `Authorization: Key <key>`, on enforcement routes only.

The key authenticates no person (`request.user` stays None, `request.auth` is the key), and
the people's routes never run this class, so a key opens none of them; a person's `Token`
is not a key, so it opens no enforcement route.
"""

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from enforcement.models import EnforcementKey
from enforcement.selectors import enforcement_key_get_valid
from enforcement.services import enforcement_key_mark_used

KEYWORD = "Key"
INVALID_KEY = "Invalid or revoked enforcement key."


class EnforcementKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[None, EnforcementKey] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != KEYWORD.lower().encode():
            return None  # no key at all: the permission answers 401 with the challenge
        if len(words) != 2:
            raise exceptions.AuthenticationFailed(f"Send `Authorization: {KEYWORD} <key>`.")
        try:
            presented = words[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed(INVALID_KEY) from exc
        key = enforcement_key_get_valid(key=presented)
        if key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        enforcement_key_mark_used(key=key, now=timezone.now())
        return None, key

    def authenticate_header(self, request: Request) -> str:
        return f'{KEYWORD} realm="enforcement"'


class HasEnforcementScope(BasePermission):
    """A key carrying the view's `enforcement_scope`; no key at all is a 401, another key 403."""

    message = "This enforcement key may not use this route."

    def has_permission(self, request: Request, view: object) -> bool:
        key = request.auth
        return isinstance(key, EnforcementKey) and view.enforcement_scope in key.scopes
