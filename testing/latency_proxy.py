"""An HTTP/1.1 proxy on loopback that holds every request for a fixed delay, then forwards it
and its answer byte for byte: localstripe answers in milliseconds, real Stripe in hundreds,
and the workers' throughput depends on that wait (bench/workers.py, tests/tasks).

Stdlib asyncio in a thread of its own, so a slow request never holds up the others: each
client connection keeps one upstream connection of its own, as a keep-alive client expects.
"""

import asyncio
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

from testing.net import free_port

HOST = "127.0.0.1"
NO_BODY_STATUSES = {b"204", b"304"}


class LatencyProxy:
    """Forwards to `upstream` (http://host:port) after `delay_seconds`; counts requests."""

    def __init__(self, upstream: str, *, delay_seconds: float) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.delay_seconds = delay_seconds
        self.port = free_port(HOST)
        self.base_url = f"http://{HOST}:{self.port}"
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, HOST, self.port), self._loop
        ).result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            connections = asyncio.all_tasks() - {asyncio.current_task()}
            for task in connections:
                task.cancel()
            await asyncio.gather(*connections)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter):
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    request = await _message(client_in, response_to=None)
                except asyncio.IncompleteReadError:
                    return  # the client closed its keep-alive connection
                self.requests += 1
                await asyncio.sleep(self.delay_seconds)
                if upstream is None:
                    upstream = await asyncio.open_connection(*self.upstream)
                upstream[1].write(request)
                response = await _message(upstream[0], response_to=request)
                client_out.write(response)
                await client_out.drain()
                if _closes(request) or _closes(response):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            # Cancelled by stop(): end quietly (asyncio's stream callback would log the
            # cancellation of a connection's task as an error).
            return
        finally:
            client_out.close()
            if upstream is not None:
                upstream[1].close()


def _closes(message: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    return b"\r\nconnection: close" in head


async def _message(reader: asyncio.StreamReader, *, response_to: bytes | None) -> bytes:
    """One whole request (response_to None) or the response to `response_to`, raw: its head,
    then a body framed by Content-Length, chunks, or (a response only) the connection's end."""
    head = await reader.readuntil(b"\r\n\r\n")
    start, *lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in lines if line)
    }
    if response_to is not None and (
        response_to.startswith(b"HEAD ") or start.split()[1].encode() in NO_BODY_STATUSES
    ):
        return head
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return head + await _chunks(reader)
    if "content-length" in headers:
        return head + await reader.readexactly(int(headers["content-length"]))
    if response_to is None:
        return head
    return head + await reader.read()


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        body += size_line
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                body += trailer
            return body + b"\r\n"
        body += await reader.readexactly(size + 2)


@contextmanager
def running_latency_proxy(upstream: str, *, delay_seconds: float) -> Iterator[LatencyProxy]:
    """A proxy in front of `upstream` for the block (point STRIPE_API_BASE at `.base_url`)."""
    proxy = LatencyProxy(upstream, delay_seconds=delay_seconds)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
