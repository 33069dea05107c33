"""Loopback ports, polling, and a dependency that accepts and never answers."""

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now; on "::" one that is free on every interface, IPv4 too
    (for servers such as localstripe that listen on all of them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str = "the condition",
    process: subprocess.Popen | None = None,
    *,
    interval: float = 0.2,
) -> T:
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` seconds,
    or at once, with the end of its log, if `process` (started by `testing.processes.running`)
    has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            tail = process.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"{what}: the process exited with {process.returncode}\n{tail}")
        time.sleep(interval)
    raise AssertionError(f"{what} not within {timeout} s")


class StallServer:
    """A TCP server that accepts every connection and never answers; counts connections."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(conn)

    def connections(self) -> int:
        """How many connections came, once the accept loop has taken the last one."""
        time.sleep(0.2)
        return len(self.accepted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
        for conn in self.accepted:
            conn.close()
