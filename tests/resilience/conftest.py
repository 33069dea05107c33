"""A stalled dependency: a TCP server that accepts and never answers."""

import socket
import threading
import time

import pytest


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


@pytest.fixture
def stall_server():
    server = StallServer()
    yield server
    server.close()
