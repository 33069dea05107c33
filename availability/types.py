from collections.abc import Callable
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
