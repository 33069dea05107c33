"""Threads that each use their own database connection, for races decided by PostgreSQL."""

import threading
from collections.abc import Callable

from django.db import connection


def run_in_thread(target, *args) -> threading.Thread:
    """Start `target(*args)` in a thread; its connection is closed when it ends."""

    def wrapper():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=wrapper)
    thread.start()
    return thread


def race(count: int, attempt: Callable[[int], object], *, timeout: float = 60) -> list[object]:
    """What `attempt(n)` returned in each of `count` threads, n = 0..count-1, released together.

    Each thread connects before the barrier, so connecting does not stagger the start. An
    exception `attempt` lets through is the outcome as its repr: the tests then show it as
    the defect they look for instead of losing it in a thread.
    """
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def contender(n: int) -> None:
        connection.ensure_connection()
        barrier.wait()
        try:
            outcomes[n] = attempt(n)
        except Exception as exc:  # reported as the outcome
            outcomes[n] = repr(exc)

    for thread in [run_in_thread(contender, n) for n in range(count)]:
        thread.join(timeout=timeout)
    return outcomes
