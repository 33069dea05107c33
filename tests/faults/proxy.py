"""A TCP proxy that puts faults between the service and one of its dependencies.

Modes, switched at any time from any thread:
- pass: bytes flow both ways.
- delay: each chunk (or only the connect) waits `seconds` before it is forwarded.
- stall: connections are accepted and read, but nothing is forwarded either way, on new and
  existing connections alike: a server that hangs. The bytes are dropped, never held, so what
  was sent during a stall never reaches the other side (a request the server never saw);
  each connection that lost bytes is closed when the stall ends, since its stream is broken.
- refuse: the listening socket is closed, so a connect is refused; live connections go on.
`drop()` closes every live connection, as a restart of the dependency would.

`accepted` and `discarded` (bytes) count what came through: proof that a client really
uses the proxy and really met a stall.
"""

import contextlib
import socket
import threading
import time

PASS, DELAY, STALL, REFUSE = "pass", "delay", "stall", "refuse"
CHUNK = 65536


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.sockets = (client, upstream)
        self.lost_bytes = False

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):  # already closed by the other side
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class FaultProxy:
    """Listens on a free loopback port (`port`) and forwards to `target` (host, port)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = PASS
        self.seconds = 0.0
        self.delay_connect_only = False
        self._state = threading.Condition()
        self._links: set[_Link] = set()
        self._stopped = False
        self.accepted = 0
        self.discarded = 0
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def _listen(self, port: int) -> socket.socket:
        listener = socket.create_server(("127.0.0.1", port))
        listener.settimeout(0.1)  # so the loop notices a mode change or shutdown
        return listener

    def _close_listener(self) -> None:
        """Stops listening at once: the acceptor may still be in a poll on the socket, which
        would keep it listening until that poll ends."""
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None

    def _set(self, mode: str, seconds: float = 0.0, *, connect_only: bool = False) -> None:
        with self._state:
            leaving_stall = self.mode == STALL and mode != STALL
            self.mode, self.seconds, self.delay_connect_only = mode, seconds, connect_only
            if mode == REFUSE and self._listener is not None:
                self._close_listener()
            elif mode != REFUSE and self._listener is None:
                self._listener = self._listen(self.port)
            broken = [link for link in self._links if link.lost_bytes] if leaving_stall else []
            self._links.difference_update(broken)
            self._state.notify_all()
        for link in broken:
            link.close()

    def passing(self) -> None:
        self._set(PASS)

    def delay(self, seconds: float, *, connect_only: bool = False) -> None:
        self._set(DELAY, seconds, connect_only=connect_only)

    def stall(self) -> None:
        self._set(STALL)

    def refuse(self) -> None:
        self._set(REFUSE)

    def drop(self) -> None:
        with self._state:
            links, self._links = self._links, set()
        for link in links:
            link.close()

    def connections(self) -> int:
        """Live connections: has a client come through (or are they all gone)?"""
        with self._state:
            return len(self._links)

    def close(self) -> None:
        with self._state:
            self._stopped = True
            if self._listener is not None:
                self._close_listener()
            self._state.notify_all()
        self._acceptor.join()
        self.drop()

    def _accept_loop(self) -> None:
        while True:
            with self._state:
                while self._listener is None and not self._stopped:
                    self._state.wait()
                if self._stopped:
                    return
                listener = self._listener
            try:
                client, _ = listener.accept()
            except (TimeoutError, OSError):  # timed out, or closed by refuse()/close()
                continue
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        with self._state:
            seconds = self.seconds if self.mode == DELAY else 0.0
        time.sleep(seconds)
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        link = _Link(client, upstream)
        with self._state:
            self._links.add(link)
            self.accepted += 1
        threading.Thread(target=self._pump, args=(link, client, upstream), daemon=True).start()
        self._pump(link, upstream, client)

    def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        """Copy one direction until either side closes, applying the mode to every chunk."""
        try:
            while data := source.recv(CHUNK):
                with self._state:
                    mode, seconds = self.mode, self.seconds
                    if mode == STALL:
                        link.lost_bytes = True
                        self.discarded += len(data)
                        continue
                    delayed = mode == DELAY and not self.delay_connect_only
                if delayed:
                    time.sleep(seconds)
                sink.sendall(data)
        except OSError:
            pass
        with self._state:
            self._links.discard(link)
        link.close()
