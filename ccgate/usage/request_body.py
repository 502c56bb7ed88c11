"""What the usage log keeps of a request body while it streams upstream: its decoded head and tail.

The log reads a few top-level fields of the body: `model` comes first in Claude Code's bodies,
`metadata`, `stream` and `speed` after the prompt. So the forwarder never holds the body: each
chunk goes upstream as it arrives and this tap keeps the first BODY_HEAD and the last BODY_TAIL
bytes (a body up to their sum is kept whole). A compressed body (`Content-Encoding: gzip` or
`deflate`) is decoded on the way, at most DECODE_LIMIT bytes of it: enough for everyday bodies
whole, and a gzip bomb costs no more than that; past the limit only the head is read. A body
in an encoding ccgate cannot decode (br, zstd) is not kept at all.
"""

from __future__ import annotations

from ccgate.usage.inflate import Inflater

BODY_HEAD, BODY_TAIL = 16 * 1024, 64 * 1024
DECODE_LIMIT = 1024 * 1024


class RequestBodyTap:
    def __init__(self, content_encoding: str | None = None) -> None:
        encoding = (content_encoding or "").strip().lower()
        self._inflater = Inflater(encoding, limit=DECODE_LIMIT) if encoding not in ("", "identity") else None
        self._keep_nothing = self._inflater is not None and self._inflater.stopped
        self.size = 0  # bytes as received (compressed, if it was)
        self._head = b""
        self._tail: list[bytes] = []
        self._tail_size = 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._inflater is None:
            self._keep(chunk)
        elif not self._inflater.stopped:
            for piece in self._inflater.feed(chunk):
                self._keep(piece)

    def _keep(self, data: bytes) -> None:
        view = memoryview(data)  # slices without copying; only what is kept is copied, once
        if len(self._head) < BODY_HEAD:
            room = BODY_HEAD - len(self._head)
            self._head += view[:room]
            view = view[room:]
            if not view:
                return
        if len(view) >= BODY_TAIL:
            self._tail, self._tail_size = [bytes(view[-BODY_TAIL:])], BODY_TAIL
            return
        self._tail.append(bytes(view))
        self._tail_size += len(view)
        if self._tail_size > 2 * BODY_TAIL:
            last = b"".join(self._tail)[-BODY_TAIL:]
            self._tail, self._tail_size = [last], len(last)

    def result(self) -> bytes | None:
        """The kept bytes (decoded): the whole body if it fit, else its head and its tail."""
        if self._keep_nothing:
            return None
        tail = b"".join(self._tail)
        return self._head + tail[-BODY_TAIL:]
