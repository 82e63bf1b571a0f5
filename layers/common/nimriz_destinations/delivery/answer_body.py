"""An answer's body as deliveries keep it: at most one content-coding layer undone (gzip, x-gzip, deflate), at most
`MAX_RESPONSE_BYTES` of it after decoding (reading stops there) and at most `MAX_BODY_PIECES` pieces read. A few
hundred compressed bytes can stand for gigabytes, and one sent a byte per chunk spent about a second of CPU on 64 KB.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from itertools import islice

MAX_RESPONSE_BYTES = 64 * 1024  # decoded response bytes kept; reading stops there
# Pieces of body (one per chunk or network read): a server flushing a line at a time sends a few hundred.
MAX_BODY_PIECES = 4096
# The codings read_body undoes (a request offers these and no other), with zlib's window bits for each: gzip
# framing, or the zlib framing HTTP calls `deflate`.
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPTED_ENCODINGS = "gzip, deflate"


def read_body(chunks: Iterator[bytes], content_encoding: str | None) -> tuple[bytes, bool]:
    """(body, truncated): the body with one content coding undone, at most MAX_RESPONSE_BYTES of it.

    No coding, an unknown one or more than one layer: the raw bytes, undecoded. `truncated` is True when the
    cap or MAX_BODY_PIECES was reached (the body may have ended exactly there).
    """
    codings = [coding.strip().lower() for coding in (content_encoding or "").split(",")]
    codings = [coding for coding in codings if coding and coding != "identity"]
    wbits = _ZLIB_WBITS.get(codings[0]) if len(codings) == 1 else None
    pieces = _FirstPieces(chunks)
    body, truncated = _read_raw(pieces) if wbits is None else _read_decoded(pieces, wbits)
    return body, truncated or pieces.last_taken


class _FirstPieces:
    """The first MAX_BODY_PIECES of a body's pieces; `last_taken` once the last of them was."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.last_taken = False

    def __iter__(self) -> Iterator[bytes]:
        for number, chunk in enumerate(islice(self._chunks, MAX_BODY_PIECES), start=1):
            self.last_taken = number == MAX_BODY_PIECES
            yield chunk


def _read_raw(chunks: Iterable[bytes]) -> tuple[bytes, bool]:
    collected = bytearray()
    for chunk in chunks:
        collected += chunk[: MAX_RESPONSE_BYTES - len(collected)]
        if len(collected) >= MAX_RESPONSE_BYTES:
            return bytes(collected), True
    return bytes(collected), False


def _read_decoded(chunks: Iterable[bytes], wbits: int) -> tuple[bytes, bool]:
    """Decompresses as it reads, never more than the cap. A body that is not in the coding it claims is kept raw (its
    first MAX_RESPONSE_BYTES)."""
    decoder = zlib.decompressobj(wbits)
    decoded, raw = bytearray(), bytearray()
    for chunk in chunks:
        raw += chunk[: MAX_RESPONSE_BYTES - len(raw)]
        pending = chunk
        try:
            while pending and not decoder.eof and len(decoded) < MAX_RESPONSE_BYTES:
                decoded += decoder.decompress(pending, MAX_RESPONSE_BYTES - len(decoded))
                pending = decoder.unconsumed_tail
        except zlib.error:
            return bytes(raw), len(raw) >= MAX_RESPONSE_BYTES
        if len(decoded) >= MAX_RESPONSE_BYTES:
            return bytes(decoded), True
        if decoder.eof:
            break  # anything after the compressed stream is not part of the body
    return bytes(decoded), False
