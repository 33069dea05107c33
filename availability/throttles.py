import math

from rest_framework.request import Request

from availability.windows import window_asked
from secure_my_spot.throttling import FailOpenRateThrottle


class SpotRateThrottle(FailOpenRateThrottle):
    """The spot routes per client address (rate "spots"), counted in fixed windows.

    Maps poll these routes, mostly for a 304: a counter costs the poll one Redis round trip,
    where ScopedRateThrottle reads and rewrites a list of every request time in the window.
    Redis being down, each process counts in its own memory.
    """

    scope = "spots"

    def get_rate(self) -> str | None:
        return self.THROTTLE_RATES.get(self.scope)

    def allow_request(self, request: Request, view: object) -> bool:
        if self.rate is None:
            return True
        window = int(self.timer() // self.duration)
        self.window_ends = (window + 1) * self.duration
        ident = f"{self.get_ident(request)}:{window}"
        key = self.cache_format % {"scope": self.scope, "ident": ident}
        return self._count(key) <= self.num_requests

    def _count(self, key: str) -> int:
        return self.cache.count(key, timeout=self.duration)

    def wait(self) -> float:
        return max(1, math.ceil(self.window_ends - self.timer()))


class SpotWindowRateThrottle(SpotRateThrottle):
    """The spot routes asked about a window (rate "spot_windows"): answered fresh each time,
    so counted apart and lower. A question about now passes untouched."""

    scope = "spot_windows"

    def allow_request(self, request: Request, view: object) -> bool:
        if not window_asked(request):
            return True
        return super().allow_request(request, view)
