"""Redis as the cache (and the throttles' counters)."""

from secure_my_spot.settings.core import env

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Redis is a cache: short socket timeouts, and after a failure the web tier stops trying it
# for CACHE_RETRY_AFTER_SECONDS (secure_my_spot/cache.py), so a stalled Redis costs one timeout.
CACHES = {
    "default": {
        "BACKEND": "secure_my_spot.cache.ReusedClientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "sms",
        "OPTIONS": {
            "pool_class": "secure_my_spot.cache.FailFastConnectionPool",
            "socket_connect_timeout": env.float("CACHE_CONNECT_TIMEOUT_SECONDS", default=0.5),
            "socket_timeout": env.float("CACHE_TIMEOUT_SECONDS", default=0.5),
            "retry_after": env.float("CACHE_RETRY_AFTER_SECONDS", default=5),
        },
    }
}
