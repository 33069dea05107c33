"""Live availability (availability app): the channel layer the push server uses, and how
long snapshots and search answers stay cached."""

from secure_my_spot.settings.cache import REDIS_URL
from secure_my_spot.settings.core import env

# The ASGI server (Procfile `push`) serves /ws/availability/ and /availability-events/.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": env.str("CHANNEL_LAYER_URL", default=REDIS_URL),
                    # A stalled Redis fails the publisher's sends (it backs off and retries)
                    # instead of hanging it; longer than the layer's 5 s blocking receive.
                    "socket_connect_timeout": 2,
                    "socket_timeout": 10,
                }
            ]
        },
    }
}
# The longest a serialised all-spots snapshot stays in Redis: only the current version and
# the one before it are kept (availability.selectors), so this only clears an idle Redis.
AVAILABILITY_SNAPSHOT_TTL_SECONDS = env.int("AVAILABILITY_SNAPSHOT_TTL_SECONDS", default=600)
# The same for a search or viewport answer: many small bodies, worth a few polls each.
AVAILABILITY_SEARCH_TTL_SECONDS = env.int("AVAILABILITY_SEARCH_TTL_SECONDS", default=30)
# Viewport searches share a cached cover: the viewport widened outward to this grid
# (degrees, ~100 m north to south); each answer is then trimmed to exactly the box asked.
AVAILABILITY_SEARCH_GRID_DEGREES = env.float("AVAILABILITY_SEARCH_GRID_DEGREES", default=0.001)
# Bytes of search covers stored per search TTL; Redis holds at most twice this for searches.
AVAILABILITY_SEARCH_CACHE_BYTES = env.int(
    "AVAILABILITY_SEARCH_CACHE_BYTES", default=64 * 1024 * 1024
)
