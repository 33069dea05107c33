from rest_framework.request import Request

from enforcement.models import EnforcementKey
from secure_my_spot.throttling import FailOpenRateThrottle


class EnforcementKeyRateThrottle(FailOpenRateThrottle):
    """Lookups per key (rate "enforcement"), whatever address they come from: an agency's
    devices may share one address, or one device roam across many."""

    scope = "enforcement"

    def get_cache_key(self, request: Request, view: object) -> str | None:
        key = request.auth
        if not isinstance(key, EnforcementKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.prefix}
