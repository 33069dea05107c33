from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Version:
    """What the spot routes answer from: same number, same answer."""

    number: int
    changed_at: datetime
    next_change_at: datetime | None  # when time alone changes the answer next
