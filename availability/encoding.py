"""Compressed answers for the spot routes, chosen from the client's Accept-Encoding.

The app compresses these routes itself, not nginx (its spot locations have gzip off): the
all-spots body is compressed once per version and shared like the identity body, and each
encoding has an ETag of its own, so a 304 stays exact per encoding.
"""

import gzip
import zlib
from collections.abc import Iterable, Iterator

import brotli

BR = "br"
GZIP = "gzip"
IDENTITY = "identity"
# What each encoding adds to the identity answer's ETag.
ETAG_SUFFIX = {BR: "-br", GZIP: "-gz", IDENTITY: ""}
# Once per version, so ratio over speed, measured at 13,241 spots (3.93 MB): brotli 5 gives
# 246 KB in 35 ms (quality 9: 242 KB in 89 ms), gzip 6 gives 260 KB in 28 ms.
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's gzip wrapper (its header has no timestamp)
# Per request (searches, windows): gzip 1 costs ~5 ms a MB and still takes off about 85%.
GZIP_LEVEL_FAST = 1
# Smaller answers go as they are: the framing would eat most of the saving.
COMPRESS_MIN_BYTES = 1024


def encoding_accepted(header: str, *, offered: tuple[str, ...] = (BR, GZIP)) -> str:
    """The `offered` encoding the client weighs highest (ties: the order of `offered`), or
    identity. Malformed entries are skipped: an unreadable header means identity, never an
    error. `x-gzip` is gzip; `*` stands for any encoding the header does not name."""
    weights: dict[str, float] = {}
    for entry in header.split(","):
        coding, _, parameter = entry.partition(";")
        coding = coding.strip().lower()
        weight = 1.0
        if parameter.strip():
            name, _, value = parameter.partition("=")
            try:
                weight = float(value.strip())
            except ValueError:
                continue
            if name.strip().lower() != "q" or not 0 <= weight <= 1:  # NaN fails this too
                continue
        weights["gzip" if coding == "x-gzip" else coding] = weight
    best, best_weight = IDENTITY, 0.0
    for coding in offered:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def encoding_compress_pieces(pieces: Iterable[bytes], *, encoding: str) -> Iterator[bytes]:
    """encoding_compress (br or gzip) for a body read piece by piece, one too large to hold
    whole: the same format and settings, compressed as it streams."""
    if encoding == BR:
        brotli_stream = brotli.Compressor(quality=BROTLI_QUALITY)
        step, end = brotli_stream.process, brotli_stream.finish
    else:
        gzip_stream = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
        step, end = gzip_stream.compress, gzip_stream.flush
    for piece in pieces:
        yield step(piece)
    yield end()


def encoding_compress(body: bytes, *, encoding: str, fast: bool = False) -> bytes:
    """`body` in `encoding`; gzip without a timestamp, so every worker writes the same bytes."""
    if encoding == BR:
        return brotli.compress(body, quality=BROTLI_QUALITY)
    if encoding == GZIP:
        return gzip.compress(body, compresslevel=GZIP_LEVEL_FAST if fast else GZIP_LEVEL, mtime=0)
    return body
