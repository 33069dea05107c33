from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Version:
    """What the spot routes answer from: same number, same answer."""

    number: int
    changed_at: datetime
    next_change_at: datetime | None  # when time alone changes the answer next


@dataclass(frozen=True)
class CoveredSearch:
    """A search answered from a covering one that nearby searches share.

    `key` names the cover (a quantised question), `cover()` builds its spots as JSON, and
    `trim(cover)` keeps exactly the spots, order and fields the asked question gets.
    """

    key: str
    cover: Callable[[], bytes | str]
    trim: Callable[[bytes], bytes]


@dataclass(frozen=True)
class StreamedBody:
    """A body too large to hold whole in a process (availability.selectors.
    LATEST_BODIES_MAX_BYTES): its pieces, read from Redis (or from its build when Redis is
    down) as the answer goes out; `length` when it is known."""

    pieces: Iterator[bytes]
    length: int | None
