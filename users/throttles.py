"""Throttles keyed by what a request names rather than by who sends it."""

from secure_my_spot.throttling import FailOpenRateThrottle
from users.models import email_digest


class PasswordResetEmailThrottle(FailOpenRateThrottle):
    """Reset requests per target address, from any client: nobody's inbox is flooded with
    reset mail, and unknown addresses are throttled exactly like known ones."""

    scope = "password_reset_email"

    def get_cache_key(self, request, view) -> str | None:
        data = request.data
        email = data.get("email") if isinstance(data, dict) else None
        if not isinstance(email, str):
            return None  # the serializer answers with a 400 naming `email`
        return self.cache_format % {"scope": self.scope, "ident": email_digest(email)}
