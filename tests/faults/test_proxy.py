"""The fault proxy itself, against an echo server: each mode does what the suite relies on."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.faults.proxy import FaultProxy

pytestmark = pytest.mark.faults


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = socket.create_server(("127.0.0.1", 0))

    def echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=echo, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    proxy = FaultProxy(server.getsockname())
    yield proxy
    proxy.close()
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
    server.close()


def connect(proxy: FaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def echoed(sock: socket.socket, data: bytes = b"ping") -> bytes:
    sock.sendall(data)
    return sock.recv(1024)


def test_pass_and_delay(proxy):
    with connect(proxy) as sock:
        assert echoed(sock) == b"ping"
        proxy.delay(0.3)
        started = time.monotonic()
        assert echoed(sock) == b"ping"
        assert time.monotonic() - started >= 0.6  # once each way
    proxy.delay(0.3, connect_only=True)
    with connect(proxy) as sock:
        started = time.monotonic()
        assert echoed(sock) == b"ping"
        assert time.monotonic() - started >= 0.3
    assert proxy.accepted == 2


def test_a_stall_freezes_live_and_new_connections_then_closes_the_broken_ones(proxy):
    live = connect(proxy)
    assert echoed(live) == b"ping"
    proxy.stall()
    new = connect(proxy)
    for sock in (live, new):
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            echoed(sock)
    assert proxy.discarded == 8

    proxy.passing()
    for sock in (live, new):
        sock.settimeout(2)
        assert sock.recv(1024) == b""  # the stream lost bytes: closed, never resumed
        sock.close()
    with connect(proxy) as sock:
        assert echoed(sock) == b"ping"


def test_refuse_and_drop(proxy):
    live = connect(proxy)
    assert echoed(live) == b"ping"
    proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)
    assert echoed(live) == b"ping"  # what was open goes on

    proxy.drop()
    assert live.recv(1024) == b""
    live.close()
    proxy.passing()
    with connect(proxy) as sock:
        assert echoed(sock) == b"ping"
