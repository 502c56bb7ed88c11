"""Incremental usage extraction from a streamed (SSE) Messages response.

`StreamUsage(content_encoding)` is created per streamed response; `feed(chunk)` is called
with each chunk exactly as relayed (still compressed if the upstream compressed it) and
`result()` returns what was seen so far, also after an abort or a broken stream.

Cheap and bounded by construction: a gzip/deflate stream is decoded incrementally from a copy
(the forwarder relays the original bytes) within a budget (`ccgate.usage.inflate`: a bomb stops
being read, the relay goes on), a line longer than MAX_LINE is dropped rather than gathered (so
a 64 MiB line costs what relaying it costs, not quadratic copying), lines are split per the SSE rules (CR, LF or CRLF,
also when a CR ends one chunk and its LF starts the next), and an event's `event:` line is
looked at first: only `message_start`, `message_delta` and `error` are ever JSON-parsed;
every other event (content deltas, pings) is skipped line by line without being kept.
Usage follows the official SDK's accumulator: `message_start.message.usage` first, then
each `message_delta.usage` field that is present and not null replaces the earlier value.
"""

from __future__ import annotations

import json
from typing import Any

from ccgate.usage.inflate import Inflater

_WANTED = frozenset({b"message_start", b"message_delta", b"error"})
# Names that may appear in the JSON of an event sent without an `event:` line.
_WANTED_IN_DATA = (b"message_start", b"message_delta", b'"error"')
# Text that may belong to a usage event (every event the parser reads holds one of these names).
_TOKENS = (b"message_start", b"message_delta", b"error")
# A partial line longer than this inside a skipped event is not kept, only remembered as "in a line".
_SKIP_TAIL = 4096
_PLACEHOLDER = b"data:"
# No event ccgate reads comes near this (message_start is a few KB); longer lines are dropped.
MAX_LINE = 1024 * 1024
# Decoded bytes per compressed byte a stream may reach before it counts as a bomb (see inflate.py).
MAX_RATIO = 64


class StreamUsage:
    def __init__(self, content_encoding: str | None = None) -> None:
        self.content_encoding = content_encoding
        encoding = (content_encoding or "").strip().lower()
        self._decoder: Inflater | None = None
        self._decode_error: str | None = None
        if encoding not in ("", "identity"):
            self._decoder = Inflater(encoding, ratio=MAX_RATIO)
            self._decode_error = self._decoder.error
        self._tail = b""  # an incomplete line carried to the next chunk
        self._dropping = False  # inside a line longer than MAX_LINE: dropped up to its end
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._event: bytes | None = None
        self._skip = False  # the current event is not one we parse
        self._data: list[bytes] = []
        self._usage: dict[str, Any] = {}
        self._model: str | None = None
        self._message_id: str | None = None
        self._stop_reason: str | None = None
        self._error_type: str | None = None
        self._events = 0
        self._bad_json = 0

    # --- public interface -------------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        if self._decode_error is not None or not chunk:
            return
        if self._decoder is None:
            self._feed_text(chunk)
            return
        for piece in self._decoder.feed(chunk):
            self._feed_text(piece)
        self._decode_error = self._decoder.error

    def result(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model": self._model,
            "message_id": self._message_id,
            "stop_reason": self._stop_reason,
            "error_type": self._error_type,
            "usage": _copy_usage(self._usage),
            "events": self._events,  # usage events read (message_start, message_delta, error)
        }
        if self._decode_error:
            out["decode_error"] = self._decode_error
        if self._bad_json:
            out["bad_json_events"] = self._bad_json
        return out

    # --- SSE lines and events ---------------------------------------------------------------

    def _between_events(self) -> bool:
        """Nothing carried over: the text so far ended exactly at the end of an event."""
        return not (self._tail or self._data or self._skip or self._dropping or self._skip_lf) and self._event is None

    def _feed_text(self, data: bytes) -> None:
        """Whole runs of events that hold nothing ccgate reads are stepped over with a few C-level
        searches; only the events around a usage token go through the line-by-line parser. Exact:
        a run is skipped only from an event boundary to a blank line, with no usage token inside."""
        if (
            data.endswith(b"\n\n")
            and b"message_" not in data
            and b"error" not in data
            and b"\r" not in data
            and self._between_events()
        ):
            return  # whole events (content deltas, pings), the commonest chunk: nothing to read
        if self._dropping or self._skip_lf or b"\r" in data:
            self._feed_lines(data)  # CR line endings, or the end of a dropped line: line by line
            return
        if b"\n" not in data:
            self._extend_line(data)  # a long line going on: nothing to look at until it ends
            return
        buf = self._tail + data if self._tail else data
        self._tail = b""
        while buf:
            if self._event is None and not self._skip and not self._data:
                cut = _first_token(buf)
                last = buf.rfind(b"\n\n", 0, cut)
                if last >= 0:
                    buf = buf[last + 2 :]
                    if not buf:
                        return
            end = buf.find(b"\n\n")
            if end < 0:
                self._feed_lines(buf)
                return
            self._feed_lines(buf[: end + 2])
            buf = buf[end + 2 :]

    def _feed_lines(self, data: bytes) -> None:
        if self._dropping:
            data = self._after_dropped_line(data)
            if not data:
                return
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
                if not data:
                    return
        if self._tail:
            data = self._tail + data
        lines = data.splitlines()  # bytes.splitlines splits on exactly CR, LF and CRLF, as SSE does
        last = data[-1:]
        if last == b"\r":
            self._skip_lf = True
            self._tail = b""
        elif last == b"\n":
            self._tail = b""
        else:
            tail = lines.pop()
            if self._skip and len(tail) > _SKIP_TAIL and tail.startswith(b"data"):
                tail = _PLACEHOLDER  # a long text delta being split: its content is not needed
            elif len(tail) > MAX_LINE:
                self._drop_line()
                tail = b""
            self._tail = tail
        line_fn = self._line
        for line in lines:
            line_fn(line)

    def _extend_line(self, data: bytes) -> None:
        """What `_feed_lines` does with text holding no line end, without looking at the line again."""
        tail = self._tail + data
        if self._skip and len(tail) > _SKIP_TAIL and tail.startswith(b"data"):
            tail = _PLACEHOLDER
        elif len(tail) > MAX_LINE:
            self._drop_line()
            tail = b""
        self._tail = tail

    def _drop_line(self) -> None:
        """An over-long line: the event it belongs to is not read (nothing ccgate needs is that long)."""
        self._dropping = True
        self._skip, self._event = True, None
        self._data.clear()

    def _after_dropped_line(self, data: bytes) -> bytes:
        """What follows the end of the line being dropped (its CR, LF or CRLF consumed), or b""."""
        ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
        if not ends:
            return b""
        end = min(ends)
        self._dropping = False
        if data[end] == 0x0D:  # CR: a LF right after it belongs to it, also in the next chunk
            if end + 1 == len(data):
                self._skip_lf = True
                return b""
            if data[end + 1] == 0x0A:
                end += 1
        return data[end + 1 :]

    def _line(self, line: bytes) -> None:
        if not line:
            self._end_event()
            return
        if self._skip and not line.startswith(b"event"):
            return
        if line[0] == 0x3A:  # ':' comment
            return
        if line.startswith(b"data"):
            if line.startswith(b"data:"):
                value = line[5:]
                if value[:1] == b" ":
                    value = value[1:]
                self._data.append(value)
            elif line == b"data":
                self._data.append(b"")
            return
        if line.startswith(b"event:") or line == b"event":
            name = line[6:]
            if name[:1] == b" ":
                name = name[1:]
            self._event = name
            self._skip = name not in _WANTED
            if self._skip:
                self._data.clear()
        # id:, retry: and unknown fields carry nothing about usage

    def _end_event(self) -> None:
        event, data = self._event, self._data
        self._event, self._skip, self._data = None, False, []
        if not data:
            return
        payload = b"\n".join(data)
        if event is None:
            # Unnamed event ("message"): parse only if it could be one of ours.
            if not any(token in payload for token in _WANTED_IN_DATA):
                return
        elif event not in _WANTED:
            return
        self._events += 1
        try:
            obj = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            self._bad_json += 1
            return
        if isinstance(obj, dict):
            self._apply(event.decode("ascii", "replace") if event else str(obj.get("type")), obj)

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        if kind == "message_start":
            message = obj.get("message")
            if isinstance(message, dict):
                self._model = _str_or(message.get("model"), self._model)
                self._message_id = _str_or(message.get("id"), self._message_id)
                usage = message.get("usage")
                if isinstance(usage, dict):
                    self._merge(usage)
        elif kind == "message_delta":
            delta = obj.get("delta")
            if isinstance(delta, dict):
                self._stop_reason = _str_or(delta.get("stop_reason"), self._stop_reason)
            usage = obj.get("usage")
            if isinstance(usage, dict):
                self._merge(usage)
        elif kind == "error":
            error = obj.get("error")
            if isinstance(error, dict):
                self._error_type = _str_or(error.get("type"), self._error_type) or "error"

    def _merge(self, usage: dict[str, Any]) -> None:
        for key, value in usage.items():
            if value is not None:
                self._usage[key] = value


def _first_token(buf: bytes) -> int:
    """Where the first text that may belong to a usage event starts (len(buf) if none). A search per
    name, not one regex of the three: bytes.find skips ahead with memchr, the regex tries every
    position (2.9 against 14.8 us over a typical 2.4 KB chunk of 19 events)."""
    first = len(buf)
    for token in _TOKENS:
        at = buf.find(token, 0, first + len(token) - 1)  # any start before the earliest found so far
        if at >= 0:
            first = at
    return first


def _str_or(value: Any, default: str | None) -> str | None:
    return value if isinstance(value, str) and value else default


def _copy_usage(usage: dict[str, Any]) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in usage.items()}
