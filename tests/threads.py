"""Threads that each use their own database connection, for races decided by PostgreSQL."""

import threading

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
