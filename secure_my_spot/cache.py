"""Redis is a cache, not a dependency of correctness: what talks to it fails fast when it
cannot answer, and what must keep counting (throttles, sign-in backoff) counts in memory.
"""

import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from redis import ConnectionPool
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

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT) -> bool:
        return self._either("touch", key, timeout=timeout)

    def delete_many(self, keys: Iterable[str]) -> None:
        self._either("delete_many", list(keys))


fail_open_cache = FailOpenCache()
