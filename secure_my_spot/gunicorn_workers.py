"""gunicorn's workers, with gunicorn's own error answers in the API's shape (`{"detail": ...}`).

gunicorn answers a request it cannot parse (request line or headers too large, a malformed
header, an unsupported transfer coding...) itself, before Django sees it, with an HTML page
written by gunicorn.util.write_error. These workers let gunicorn choose the status, log and
access-log the error as it always does, catch the page on its way out, and send the same
status and message as JSON. gunicorn.conf.py selects one of them.

The names must not end in "SyncWorker": gunicorn swaps such a class for its plain threaded
worker whenever threads > 1.
"""

import html
import json
import re

from gunicorn import util
from gunicorn.workers import gthread, sync

# The parts of gunicorn.util.write_error's page: its status line and the message after <h1>.
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)\r\n")
MESSAGE = re.compile(rb"</h1>\s*(.*?)\s*</body>", re.DOTALL)


class _ErrorPage:
    """Stands in for the client's socket while gunicorn writes its error page to it."""

    def __init__(self) -> None:
        self.data = b""

    def gettimeout(self) -> float:
        return 0.0  # gunicorn's write_nonblock then writes without changing the socket's mode

    def sendall(self, data: bytes) -> None:
        self.data += data


def json_error_response(page: bytes) -> bytes:
    """gunicorn's HTML error response as the same status with a JSON body; a page that does
    not have write_error's shape (another gunicorn version) goes out unchanged."""
    status, message = STATUS_LINE.match(page), MESSAGE.search(page)
    if status is None or message is None:
        return page
    code, reason = (part.decode("latin-1") for part in status.groups())
    detail = html.unescape(message.group(1).decode("latin-1")) or reason
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {code} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrors:
    """For a gunicorn worker class: its error answers in JSON."""

    def handle_error(self, req, client, addr, exc) -> None:
        page = _ErrorPage()
        super().handle_error(req, page, addr, exc)
        try:
            util.write_nonblock(client, json_error_response(page.data))
        except Exception:  # as gunicorn does: the client may be gone already
            self.log.debug("Failed to send error message.")


class SyncWorkerJsonErrors(JsonErrors, sync.SyncWorker):
    pass


class ThreadWorkerJsonErrors(JsonErrors, gthread.ThreadWorker):
    def handle(self, conn: gthread.TConn) -> tuple[bool, gthread.TConn]:
        """The client's socket gets `timeout` for each read and write. gthread otherwise
        blocks on it with none, and its `timeout` only watches the worker's main loop: a
        client that stopped sending halfway would hold this thread for good, where a sync
        worker is killed and replaced after `timeout`."""
        conn.sock.settimeout(self.cfg.timeout or None)
        return super().handle(conn)
