"""Throttles that fail open to a per-process limit when Redis cannot answer."""

from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from secure_my_spot.cache import fail_open_cache


class FailOpenThrottleMixin:
    """Counts in Redis, or in this process's memory (same rate, same keys) while it is down:
    every throttle of the project mixes this in."""

    cache = fail_open_cache


class FailOpenRateThrottle(FailOpenThrottleMixin, SimpleRateThrottle):
    pass


class FailOpenScopedRateThrottle(FailOpenThrottleMixin, ScopedRateThrottle):
    """DRF's ScopedRateThrottle (DEFAULT_THROTTLE_CLASSES, views' `throttle_scope`)."""
