"""Redis is a cache, not a dependency of correctness: what talks to it fails fast when it
cannot answer, and what must keep counting (throttles, sign-in backoff) counts in memory.
"""

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis import ConnectionPool, Redis
from redis.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# One warning per this many seconds and process while the fallback is in use, not one a request.
WARNING_INTERVAL_SECONDS = 60


class _Breaker:
    """Once a connection times out or is refused, every connection of the pool fails at once
    for `retry_after` seconds: a stalled Redis costs one socket timeout, not one per call."""

    def __init__(self, *, retry_after: float) -> None:
        self.retry_after = retry_after
        self.open_until = 0.0

    def check(self) -> None:
        if time.monotonic() < self.open_until:
            raise RedisConnectionError("Redis did not answer recently; not tried again yet.")

    @contextmanager
    def watching(self) -> Iterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError):
            self.open_until = time.monotonic() + self.retry_after
            raise


class _FailFast:
    """Mixed into redis-py's connection classes: every call goes through the pool's breaker."""

    def __init__(self, *, breaker: _Breaker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._breaker = breaker

    def connect(self) -> None:
        self._breaker.check()
        with self._breaker.watching():
            super().connect()

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self._breaker.check()
        with self._breaker.watching():
            super().send_packed_command(command, check_health)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        with self._breaker.watching():
            return super().read_response(*args, **kwargs)


class _FailFastConnection(_FailFast, Connection):
    pass


class _FailFastSSLConnection(_FailFast, SSLConnection):
    pass


class _FailFastUnixConnection(_FailFast, UnixDomainSocketConnection):
    pass


# What each scheme of REDIS_URL (redis://, rediss://, unix://) connects with.
_FAIL_FAST = {
    Connection: _FailFastConnection,
    SSLConnection: _FailFastSSLConnection,
    UnixDomainSocketConnection: _FailFastUnixConnection,
}


class FailFastConnectionPool(ConnectionPool):
    """The cache's pool (CACHES OPTIONS `pool_class`); `retry_after` is the seconds a failure
    keeps it from trying Redis again."""

    def __init__(
        self, *, connection_class: type = Connection, retry_after: float = 5, **kwargs: Any
    ) -> None:
        super().__init__(
            connection_class=_FAIL_FAST[connection_class],
            breaker=_Breaker(retry_after=retry_after),
            **kwargs,
        )


class _ClientPerPool(RedisCacheClient):
    """Django's Redis client, reusing one redis-py client per pool: Django builds a new one
    for every call, which cost a hot route ~0.1 ms a call (redis-py's client sets up its
    response callbacks each time). A client is thread-safe; its connections stay pooled."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Redis] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Redis:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ReusedClientRedisCache(RedisCache):
    """The cache backend (CACHES `BACKEND`): Django's, one redis-py client per pool."""

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = _ClientPerPool


# INCR, and the expiry on the window's first count; atomic, one round trip.
COUNT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class FailOpenCache:
    """The default cache, or this process's memory while Redis cannot answer.

    Throttles and the sign-in backoff count here: with Redis down each process still limits
    at the same rate, on the same keys, instead of answering 500 or letting everything through.
    """

    def __init__(self) -> None:
        self._local = LocMemCache("fail-open", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
        self._warned_at: float | None = None

    def _either(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(cache, name)(*args, **kwargs)
        except RedisError as exc:
            self._warn(exc)
            return getattr(self._local, name)(*args, **kwargs)

    def _warn(self, exc: RedisError) -> None:
        now = time.monotonic()
        if self._warned_at is None or now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            logger.warning(
                "cache unreachable (%s: %s); throttles count in this process's memory",
                type(exc).__name__,
                exc,
            )

    def clear(self) -> None:
        """Both the shared counts and this process's own."""
        self._local.clear()
        self._either("clear")

    def get(self, key: str, default: Any = None) -> Any:
        return self._either("get", key, default)

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> None:
        self._either("set", key, value, timeout=timeout)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        return self._either("add", key, value, timeout=timeout)

    def incr(self, key: str, delta: int = 1) -> int:
        return self._either("incr", key, delta)

    def count(self, key: str, timeout: int) -> int:
        """`key` incremented, created at 1 to expire `timeout` seconds later: a fixed-window
        counter in one Redis command (a script), where incr() takes two round trips and a
        window's first call two more."""
        backend = caches[DEFAULT_CACHE_ALIAS]
        if not isinstance(backend, RedisCache):  # another backend configured: its own calls
            return 1 if backend.add(key, 1, timeout=timeout) else backend.incr(key)
        try:
            client = backend._cache.get_client(write=True)
            return client.eval(COUNT_SCRIPT, 1, backend.make_key(key), timeout)
        except RedisError as exc:
            self._warn(exc)
        if self._local.add(key, 1, timeout=timeout):
            return 1
        return self._local.incr(key)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        return self._either("touch", key, timeout=timeout)

    def delete_many(self, keys: Iterable[str]) -> None:
        self._either("delete_many", list(keys))


fail_open_cache = FailOpenCache()
