"""A JSON parser that turns every malformed body into a 400 rather than a 500 further down.

Apart from secure_my_spot/api.py: DRF's APIView reads DEFAULT_PARSER_CLASSES when its module
is imported, so the parser must not live in a module that imports DRF's views.
"""

import io
import json
import re

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

# A JSON string, escapes included: its brackets are text, not nesting. The closing quote is
# optional so that an unclosed string is consumed once: requiring it made the scan restart
# at every quote of such a body (quadratic: ~20 s for a 64 KB body of escaped quotes).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_A_BRACKET = bytes(set(range(256)) - set(b"[]{}"))


def json_nesting_depth(raw: bytes) -> int:
    """How deeply `raw` nests arrays and objects, found without parsing it.

    The json module recurses once per level, so a small body nested a thousand deep is a
    RecursionError (a 500) before any validation could see it.
    """
    depth = deepest = 0
    for bracket in _JSON_STRING.sub(b"", raw).translate(None, _NOT_A_BRACKET):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


class StrictJSONParser(JSONParser):
    """JSON that PostgreSQL and the password hashers can take: nested at most JSON_MAX_DEPTH
    deep, without lone surrogates. (Its size is Django's DATA_UPLOAD_MAX_MEMORY_SIZE: DRF
    reads the body through `request.body`, and exception_handler names that error.)"""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        if json_nesting_depth(raw) > settings.JSON_MAX_DEPTH:
            raise exceptions.ParseError(
                f"JSON parse error - nested deeper than {settings.JSON_MAX_DEPTH} levels."
            )
        data = super().parse(io.BytesIO(raw), media_type, parser_context)
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise exceptions.ParseError("JSON parse error - invalid unicode in body.") from exc
        return data
