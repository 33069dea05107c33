"""E-mail addresses masked in every log line: the guest routes carry them in the URL path.

`jane.doe@example.com` (or `jane.doe%40example.com`, as a client may encode it in a path)
becomes `j***@example.com`: enough to tell two people apart when debugging, not to learn
who booked. Django's handlers take MaskEmailsFilter (settings.LOGGING); gunicorn's access
log bypasses Django's logging, so its own logger class masks the line's fields
(gunicorn.conf.py selects it for every gunicorn command).
"""

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger
from pythonjsonlogger.json import JsonFormatter as PlainJsonFormatter

EMAIL = re.compile(
    r"([A-Za-z0-9_])[A-Za-z0-9._%+!#$'*^`{|}~-]*?(?:@|%40)"
    r"([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})",
    re.IGNORECASE,
)


def mask_emails(text: str) -> str:
    return EMAIL.sub(r"\1***@\2", text)


class MaskEmailsFilter(logging.Filter):
    """Renders the record's message with its arguments, masked; never drops a record.

    Arguments are rendered here rather than masked one by one: an address may hide in any
    object's str() (a request, an exception).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_emails(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_emails(record.exc_text)
        return True


class JsonFormatter(PlainJsonFormatter):
    """One JSON object a line (LOG_FORMAT=json), masked whole: it renders a traceback itself
    (from exc_info, not the filter's masked exc_text) and a record's extra fields too."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_emails(super().format(record))


class MaskedAccessLogger(GunicornLogger):
    """gunicorn's logger whose access-log fields (request line, path, referer...) are masked."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        return {
            name: mask_emails(value) if isinstance(value, str) else value
            for name, value in super().atoms(resp, req, environ, request_time).items()
        }
