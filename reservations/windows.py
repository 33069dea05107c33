"""When a stay may be: the rules that a booking and a search for free spots share."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from secure_my_spot.exceptions import ApplicationError

# A start this close to now (either side) is now: a client's clock is never quite ours, and
# a start a few seconds in the past is what "now" looks like by the time it arrives.
START_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class Window:
    """[start, end): the period a reservation would hold its spot."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) / timedelta(minutes=1))


def reservation_latest_start(*, now: datetime) -> datetime:
    return now + timedelta(days=settings.RESERVATION_MAX_DAYS_AHEAD)


def reservation_start_resolve(*, start_time: datetime | None, now: datetime) -> datetime:
    """The start a request asks for: `now` when it gives none or one within START_SKEW of
    now; a 400 naming `start_time` when it is further in the past or too far ahead."""
    if start_time is None or abs(start_time - now) <= START_SKEW:
        return now
    if start_time < now:
        raise ApplicationError(
            "The start must not be in the past: leave start_time out to start now.",
            field="start_time",
        )
    if start_time > reservation_latest_start(now=now):
        raise ApplicationError(
            f"A reservation may start at most {settings.RESERVATION_MAX_DAYS_AHEAD} days ahead.",
            field="start_time",
        )
    return start_time


def reservation_window_resolve(
    *,
    start_time: datetime | None,
    end_time: datetime | None,
    reservation_length: int | None,
    now: datetime,
) -> Window:
    """A search's window: from `start_time` (as a booking reads it) to `end_time`, or for
    `reservation_length` minutes; never longer than the longest reservation."""
    if end_time is not None and reservation_length is not None:
        raise ApplicationError(
            "Give end_time or reservation_length, not both.", field="reservation_length"
        )
    if end_time is None and reservation_length is None:
        raise ApplicationError(
            "Give end_time or reservation_length with start_time.", field="end_time"
        )
    start = reservation_start_resolve(start_time=start_time, now=now)
    if reservation_length is not None:
        field = "reservation_length"
        end = start + timedelta(minutes=reservation_length)
    else:
        field = "end_time"
        end = end_time
        if end <= start:
            raise ApplicationError("The end must be after the start.", field=field)
    if end - start > timedelta(minutes=settings.RESERVATION_MAX_MINUTES):
        raise ApplicationError(
            f"The window may last at most {settings.RESERVATION_MAX_MINUTES} minutes.",
            field=field,
        )
    return Window(start=start, end=end)
