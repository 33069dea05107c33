#!/usr/bin/python3
"""An in-memory mail catcher with the part of Mailpit's behaviour and REST API that tests use.

SMTP on MP_SMTP_BIND_ADDR (default 0.0.0.0:1025), HTTP on MP_UI_BIND_ADDR (default 0.0.0.0:8025):
GET /api/v1/messages (newest first), GET /api/v1/message/<ID|latest>, DELETE /api/v1/messages
(all, or {"IDs": [...]}), GET /livez and /readyz. `mailpit readyz` probes a running instance.
"""

import email
import json
import logging
import os
import signal
import sys
import threading
import urllib.request
import uuid
from datetime import UTC, datetime
from email import policy
from email.utils import getaddresses, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

messages = []  # newest first, as Mailpit lists them
lock = threading.Lock()


def bind_address(variable, default):
    host, _, port = os.environ.get(variable, default).rpartition(":")
    return host or "0.0.0.0", int(port)  # noqa: S104 - all interfaces, as Mailpit does


def rfc3339(moment):
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def addresses(msg, header):
    return [
        {"Name": name, "Address": address}
        for name, address in getaddresses([str(v) for v in msg.get_all(header, [])])
        if address
    ]


def body(msg, subtype):
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


def store(raw):
    # SMTP's CRLF line ends would stay in the decoded text; Mailpit returns plain LF.
    msg = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=policy.default)
    created = datetime.now(UTC)
    try:
        date = parsedate_to_datetime(msg["Date"]) if msg["Date"] else created
    except (TypeError, ValueError):
        date = created
    sender = (addresses(msg, "From") or [{"Name": "", "Address": ""}])[0]
    text = body(msg, "plain")
    summary = {
        "ID": uuid.uuid4().hex,
        "MessageID": (msg["Message-ID"] or "").strip("<> "),
        "From": sender,
        "To": addresses(msg, "To"),
        "Cc": addresses(msg, "Cc"),
        "Bcc": addresses(msg, "Bcc"),
        "Subject": str(msg["Subject"] or ""),
        "Created": rfc3339(created),
        "Size": len(raw),
        "Snippet": " ".join(text.split())[:250],
    }
    detail = {
        **summary,
        "Date": rfc3339(date),
        "Text": text,
        "HTML": body(msg, "html"),
        "ReplyTo": addresses(msg, "Reply-To"),
    }
    with lock:
        messages.insert(0, (summary, detail))


class SMTPHandler:
    async def handle_DATA(self, server, session, envelope):
        store(envelope.original_content or envelope.content)
        return "250 2.0.0 Ok: queued"


class API(BaseHTTPRequestHandler):
    def reply(self, status, payload):
        data = json.dumps(payload).encode() if not isinstance(payload, bytes) else payload
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if payload != b"ok" else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path in ("/livez", "/readyz"):
            return self.reply(200, b"ok")
        if url.path == "/api/v1/messages":
            query = parse_qs(url.query)
            start, limit = int(query.get("start", ["0"])[0]), int(query.get("limit", ["50"])[0])
            with lock:
                page = [summary for summary, _ in messages[start : start + limit]]
                total = len(messages)
            return self.reply(
                200,
                {
                    "total": total,
                    "unread": 0,
                    "count": len(page),
                    "messages_count": total,
                    "start": start,
                    "tags": [],
                    "messages": page,
                },
            )
        if url.path.startswith("/api/v1/message/"):
            wanted = url.path.rsplit("/", 1)[1]
            with lock:
                found = [d for s, d in messages if wanted in (s["ID"], "latest")][:1]
            return self.reply(200, found[0]) if found else self.reply(404, {"Error": "not found"})
        self.reply(404, {"Error": "not found"})

    def do_DELETE(self):
        if urlsplit(self.path).path != "/api/v1/messages":
            return self.reply(404, {"Error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        ids = set((json.loads(self.rfile.read(length) or b"{}") or {}).get("IDs") or [])
        with lock:  # no IDs: delete them all
            messages[:] = [m for m in messages if m[0]["ID"] not in ids] if ids else []
        self.reply(200, b"ok")

    def log_message(self, format, *args):  # keep the container's log to mail events
        pass


def main():
    http_host, http_port = bind_address("MP_UI_BIND_ADDR", "0.0.0.0:8025")
    if sys.argv[1:] == ["readyz"]:
        host = "127.0.0.1" if http_host in ("0.0.0.0", "") else http_host  # noqa: S104
        urllib.request.urlopen(f"http://{host}:{http_port}/readyz", timeout=4)
        return
    smtp_host, smtp_port = bind_address("MP_SMTP_BIND_ADDR", "0.0.0.0:1025")
    smtp = Controller(SMTPHandler(), hostname=smtp_host, port=smtp_port, enable_SMTPUTF8=True)
    smtp.start()
    # As PID 1 the process would ignore docker stop's SIGTERM.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.warning(
        "mailpit stand-in: SMTP on %s:%s, HTTP on %s:%s", smtp_host, smtp_port, http_host, http_port
    )
    try:
        ThreadingHTTPServer((http_host, http_port), API).serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
