"""Bounded, incremental gzip/deflate decoding for the usage log's copies of bodies.

ccgate forwards compressed bodies byte for byte; only the copy the usage log reads is decoded.
A few kilobytes of gzip can stand for gigabytes, so every decoder here has a budget:

- `limit`: at most this many decoded bytes in all;
- `ratio`: at most `ratio` decoded bytes per compressed byte fed so far (plus `slack`), which a
  stream of events never comes near (each event is flushed on its own, so ~10x at best) and a
  bomb passes at once (~1000x);

and hands its output on in pieces of at most PIECE bytes, so the reader never holds more. Once
over budget it stops for good and says why in `error`; what was decoded until then stands.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

PIECE = 64 * 1024
SLACK = 1024 * 1024
# Input is handed to zlib this much at a time: zlib copies the input it has not used yet on every
# call, and a bomb uses a few bytes per PIECE of output.
STEP = 4096


def decodable(encoding: str | None) -> bool:
    return _normal(encoding) in ("gzip", "x-gzip", "deflate")


def _normal(encoding: str | None) -> str:
    return (encoding or "").strip().lower()


class Inflater:
    def __init__(self, encoding: str | None, *, limit: int | None = None, ratio: int | None = None) -> None:
        name = _normal(encoding)
        self.error: str | None = None
        self._limit = limit
        self._ratio = ratio
        self._fed = 0
        self.produced = 0
        self._head = b""  # raw deflate or zlib-wrapped: decided on the first two bytes
        self._d: Any = None
        if name in ("gzip", "x-gzip"):
            self._d = zlib.decompressobj(wbits=47)  # gzip (or zlib), header detected
        elif name != "deflate":
            self.error = f"cannot decode content-encoding {name!r}"

    @property
    def stopped(self) -> bool:
        return self.error is not None

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        """The decoded bytes `chunk` adds, in pieces of at most PIECE bytes, within the budget."""
        if self.error is not None or not chunk:
            return
        if self._d is None:
            chunk = self._head + chunk
            if len(chunk) < 2:
                self._head = chunk
                return
            zlib_wrapped = (chunk[0] & 0x0F) == 8 and ((chunk[0] << 8) | chunk[1]) % 31 == 0
            self._d = zlib.decompressobj(wbits=15 if zlib_wrapped else -15)
        view = memoryview(chunk)
        try:
            for start in range(0, len(view), STEP):
                step = view[start : start + STEP]
                self._fed += len(step)  # counted as it is used: a big chunk earns no budget in advance
                yield from self._decode(step)
                if self.error is not None:
                    return
        except zlib.error as exc:
            self.error = f"compressed stream broken: {exc}"

    def _decode(self, data: bytes | memoryview) -> Iterator[bytes]:
        while True:
            allowed = self._allowed()
            if allowed <= 0:
                self.error = "compressed body decodes to more than the usage log reads; not read further"
                return
            size = min(PIECE, allowed)
            piece = self._d.decompress(data, size)
            data = self._d.unconsumed_tail
            if piece:
                self.produced += len(piece)
                yield piece
            if self._d.eof:
                rest = self._d.unused_data
                if not rest:
                    return
                # Concatenated gzip members: a new decoder on what follows the first.
                self._d = zlib.decompressobj(wbits=47)
                data = rest
            elif not data and len(piece) < size:
                return  # all input used and no output held back

    def _allowed(self) -> int:
        allowed = PIECE if self._limit is None else self._limit - self.produced
        if self._ratio is not None:
            allowed = min(allowed, self._ratio * self._fed + SLACK - self.produced)
        return allowed


def inflate(body: bytes, encoding: str | None, limit: int) -> bytearray | None:
    """The first `limit` decoded bytes of a whole compressed body; None if it cannot be decoded at all."""
    d = Inflater(encoding, limit=limit)
    out = bytearray()
    for piece in d.feed(body):
        out += piece  # one growing buffer: no list of pieces and a joined copy of them side by side
    if not out and d.error is not None:
        return None
    return out
