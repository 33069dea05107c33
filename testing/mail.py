"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, parsed."""

import email
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

from aiosmtpd.controller import Controller

from testing.net import free_port


class Mailbox:
    """What the SMTP server received, parsed."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            self._messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def messages(self, *, to: str | None = None, subject: str | None = None) -> list[Message]:
        with self._lock:
            found = list(self._messages)
        return [
            m
            for m in found
            if (to is None or to in m["To"]) and (subject is None or subject in m["Subject"])
        ]

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()


@contextmanager
def running_smtp_server(host: str = "127.0.0.1") -> Iterator[tuple[str, Mailbox]]:
    """An SMTP server on a free port for the block: its URL (for EMAIL_URL) and its mailbox."""
    mailbox = Mailbox()
    port = free_port(host)
    controller = Controller(mailbox, hostname=host, port=port)
    controller.start()
    try:
        yield f"smtp://{host}:{port}", mailbox
    finally:
        controller.stop()
