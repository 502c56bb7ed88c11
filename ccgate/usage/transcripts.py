"""Claude Code's own transcripts → one usage record per API response, fast, incrementally, no text.

Where they are: `<root>/<encoded cwd>/<session id>.jsonl` for a session, and for each of its
subagents, at any nesting depth, `<root>/<encoded cwd>/<session id>/subagents/agent-<id>.jsonl`
(flat: a subagent's subagent sits next to its parent). `<root>` is a config dir's `projects/`.

What a line holds (checked on 2.1.197 and 2.1.332 against tests/fakes/upstream.py; the files are
in tests/fixtures/transcripts/): only an `assistant` line's `message.usage` is a response's usage.
A response is written as one line per content block (thinking, text, tool_use), each with the same
`message.id` and `requestId`: it counts once. Every line of a response carries the same usage in
those files. 2.1.197 writes a subagent's lines as each block ends, before the stream's final
`message_delta`: all its lines then carry message_start's usage (output_tokens 1 where the upstream
reported 57) with `stop_reason` null, and no later line corrects it; 2.1.332 writes the final usage.
Usage in a stream only grows, so the record keeps the usage of the response's LAST line read, and
carries `stop_reason` so a caller can tell an output count that stopped early (None) from a final
one. `<synthetic>` lines are Claude Code's own API-error messages (zero usage, a uuid for
message.id, the failed request's requestId): counted in `ScanCounts.api_errors`, not returned (the
forwarder is where failures are recorded). The Agent tool's result (a `user` line) repeats its
subagent's usage in `toolUseResult.usage`: not a response (the subagent's own file holds it), counted
in `ScanCounts.other_types`. Lines also hold prompts, tool inputs and outputs: a record keeps ids,
model, project fields and token counts only, never text.

Fast (issue 17 item 7): a file is read in BLOCK_SIZE blocks; only lines containing the bytes
`"usage"` (as a key: inside JSON strings quotes are escaped, so text cannot match) are decoded, and
those with msgspec into structs that name only the kept fields, so the content (most of an
assistant line's bytes) is skipped in C without building objects (on real assistant lines of 2 KB
to 2 MB msgspec ran at 1.2-2.7 GB/s where json.loads ran at 0.19-0.45 GB/s). Every other line
(prompts, tool results, attachments, request snapshots) is only counted: a line of an unknown type
that holds no usage object is not looked at, and neither are invalid bytes inside text. A line
longer than MAX_LINE is skipped without being held: those are tool results and pasted images; an
assistant line is bounded by the model's output limit, far below it. bench/import_bench.py measures
all this on a generated 1 GiB corpus.

Incremental: the caller keeps one FileState per file and passes it back. An unchanged file (same
device, inode, size and mtime) is not opened; a grown one is read from the end of its last
complete line; a replaced, truncated or rewritten one (different first bytes, or no newline just
before the old offset) is read again from the start, and `ScanCounts.restarted` says why. An
incomplete last line is left for the next scan.

How a caller merges (e.g. into the usage log): key each record on (message_id, request_id). Within
one ScanResult each key appears once. Across scans the same key comes again when a response's lines
straddled two scans (its first content block written before the scan, the rest after) or a file was
read again from the start: replace the stored row's usage with the later record's (it is never
smaller), keep one row.

Limits: a file rewritten past its first HEAD_BYTES with a newline still just before the old offset
looks appended (Claude Code appends; it does not rewrite). A line cut short by a crash and then
continued by the next append becomes one malformed line, as it does for Claude Code itself.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

import msgspec

from ccgate.errors import CcgateError
from ccgate.usage.model import UsageRecord
from ccgate.usage.record import apply_usage

BLOCK_SIZE = 4 * 1024 * 1024
MAX_LINE = 16 * 1024 * 1024
HEAD_BYTES = 4096
MARKER = b'"usage"'
SYNTHETIC_MODEL = "<synthetic>"

__all__ = [
    "FileState",
    "ScanCounts",
    "ScanResult",
    "TranscriptError",
    "TranscriptUsage",
    "find_transcripts",
    "scan",
    "scan_all",
]


class TranscriptError(CcgateError):
    """A transcript file could not be read (the message names it and why)."""


@dataclass(frozen=True, slots=True)
class FileState:
    """Where the last scan of one file stopped; the caller persists it (all fields are plain ints/str)."""

    device: int
    inode: int
    size: int  # bytes the last scan saw (its read position at end of file)
    mtime_ns: int  # the file's mtime before that read
    offset: int  # just after the last complete line consumed: where the next scan starts
    head_len: int  # how many leading bytes head_hash covers: min(offset, HEAD_BYTES)
    head_hash: str  # blake2b of those bytes: another head means the file was rewritten


@dataclass(frozen=True, slots=True)
class TranscriptUsage:
    """One API response as a transcript recorded it: ids, where it ran, and its usage split as UsageRecord splits it."""

    message_id: str | None
    request_id: str | None  # the API's request-id header, as Claude Code saw it
    session_id: str | None
    agent_id: str | None  # set in subagent files
    is_sidechain: bool
    cwd: str | None  # the session's working directory: the project
    git_branch: str | None
    timestamp: float | None  # unix seconds of the response's last line read
    version: str | None  # Claude Code's
    model: str | None
    stop_reason: str | None  # None: the line was written before the stream ended (output count not final)
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cache_write_other_tokens: int
    output_tokens: int
    web_search_requests: int
    web_fetch_requests: int
    service_tier: str | None
    speed: str | None  # usage.speed as written: "standard" or "fast"
    inference_geo: str | None
    path: str  # the transcript file it came from

    @property
    def key(self) -> tuple[str | None, str | None]:
        """What identifies the response across scans and sources."""
        return self.message_id, self.request_id


@dataclass(slots=True)
class ScanCounts:
    """What one scan of one file saw. Lines without a usage object are counted in `lines` only."""

    read_bytes: int = 0  # bytes read from the file (0 when it was unchanged)
    lines: int = 0  # complete lines consumed
    responses: int = 0  # distinct responses returned
    repeats: int = 0  # further lines of a response already counted: one per extra content block
    api_errors: int = 0  # `<synthetic>` lines: Claude Code's API-error messages, no usage
    not_utf8: int = 0  # lines whose kept fields held invalid UTF-8: read with U+FFFD in its place
    # Lines holding "usage" that gave no record, by why: malformed (not a JSON object, or `message`
    # not an object), no_usage (an assistant line whose message has no usage object), no_ids
    # (neither message.id nor requestId), oversized (longer than MAX_LINE).
    skipped: Counter[str] = field(default_factory=Counter)
    # Lines with a usage object whose type is not `assistant`, by type: `user` is an Agent tool
    # result repeating its subagent's usage; any other name is a line type this scanner does not know.
    other_types: Counter[str] = field(default_factory=Counter)
    partial_bytes: int = 0  # an incomplete last line, left for the next scan
    restarted: str | None = None  # why the file was read from the start again: replaced, truncated, rewritten


class ScanResult(NamedTuple):
    records: list[TranscriptUsage]
    state: FileState
    counts: ScanCounts


# Only the fields kept are named: msgspec skips everything else (content, tool input) unparsed.
class _Message(msgspec.Struct):
    id: Any = None
    model: Any = None
    stop_reason: Any = None
    usage: Any = None


class _Line(msgspec.Struct, rename="camel"):
    type: Any = None
    message: _Message | None = None
    request_id: Any = None
    session_id: Any = None
    agent_id: Any = None
    is_sidechain: Any = None
    cwd: Any = None
    git_branch: Any = None
    timestamp: Any = None
    version: Any = None


_DECODER = msgspec.json.Decoder(_Line)


def find_transcripts(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Session and subagent files under a `projects/` dir (or one project's dir), in name order."""
    top = Path(root)
    projects = [top] if any(p.suffix == ".jsonl" for p in _files(top)) else _dirs(top)
    for project in projects:
        for entry in _files(project):
            if entry.suffix == ".jsonl":
                yield entry
        for session in _dirs(project):
            for entry in _files(session / "subagents"):
                if entry.name.startswith("agent-") and entry.suffix == ".jsonl":
                    yield entry


def _files(directory: Path) -> list[Path]:
    return [Path(e.path) for e in _entries(directory) if e.is_file()]


def _dirs(directory: Path) -> list[Path]:
    return [Path(e.path) for e in _entries(directory) if e.is_dir()]


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise TranscriptError(f"listing transcripts in {directory} failed: {why}; check its permissions") from exc


def scan_all(
    paths: Iterable[str | os.PathLike[str]], states: Mapping[str, FileState] | None = None
) -> Iterator[tuple[str, ScanResult | TranscriptError]]:
    """(path, result) for every transcript under `paths` (projects dirs, project dirs or files).

    `states` maps a file's path, as yielded, to its last FileState. A file that cannot be read
    gives its TranscriptError instead of a result (keep its old state): one bad file stops nothing.
    A path that does not exist gives nothing; a directory that cannot be listed raises.
    """
    known = states or {}
    for given in paths:
        files = [Path(given)] if Path(given).is_file() else find_transcripts(given)
        for path in files:
            name = str(path)
            try:
                yield name, scan(name, known.get(name))
            except TranscriptError as exc:
                yield name, exc


def scan(path: str | os.PathLike[str], state: FileState | None = None) -> ScanResult:
    """Read what is new in one transcript file since `state` (all of it when None)."""
    name = os.fspath(path)
    try:
        if state is not None and _unchanged(os.stat(name), state):
            return ScanResult([], state, ScanCounts())
        with open(name, "rb", buffering=0) as f:
            return _scan_open(f, name, state)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise TranscriptError(f"reading transcript {name} failed: {why}; check the file and its permissions") from exc


def _unchanged(st: os.stat_result, state: FileState) -> bool:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) == (
        state.device,
        state.inode,
        state.size,
        state.mtime_ns,
    )


def _scan_open(f: IO[bytes], name: str, state: FileState | None) -> ScanResult:
    st = os.fstat(f.fileno())
    start, restarted = _resume_point(f, st, state)
    reader = _Reader(name)
    reader.counts.restarted = restarted
    f.seek(start)
    offset, end = reader.read(f, start)
    if state is not None and start > 0 and min(offset, HEAD_BYTES) == state.head_len:
        head_len, head_hash = state.head_len, state.head_hash
    else:
        head_len = min(offset, HEAD_BYTES)
        head_hash = _hash(os.pread(f.fileno(), head_len, 0))
    new_state = FileState(st.st_dev, st.st_ino, end, st.st_mtime_ns, offset, head_len, head_hash)
    return ScanResult(reader.records(), new_state, reader.counts)


def _resume_point(f: IO[bytes], st: os.stat_result, state: FileState | None) -> tuple[int, str | None]:
    """Where to start reading, and why it is the start again if it is."""
    if state is None:
        return 0, None
    if (st.st_dev, st.st_ino) != (state.device, state.inode):
        return 0, "replaced"
    if st.st_size < state.offset:
        return 0, "truncated"
    fd = f.fileno()
    head_changed = _hash(os.pread(fd, state.head_len, 0)) != state.head_hash
    # The old offset sits just after a newline unless the bytes before it were rewritten.
    if head_changed or (state.offset > 0 and os.pread(fd, 1, state.offset - 1) != b"\n"):
        return 0, "rewritten"
    return state.offset, None


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class _Reader:
    """Splits one file's new bytes into lines and turns the usage lines into records."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.counts = ScanCounts()
        self._records: dict[tuple[str | None, str | None], TranscriptUsage] = {}
        # The latest line of the response being read: built into a record when the next one starts,
        # so only one undigested line is held however many responses the file has.
        self._pending_key: tuple[str | None, str | None] | None = None
        self._pending: _Line | None = None
        self._strings: dict[str, str] = {}  # one copy of each repeated value (cwd, session id, model...)

    def read(self, f: IO[bytes], start: int) -> tuple[int, int]:
        """Consume every complete line from `start`; (offset after the last one, position at EOF)."""
        offset = position = start
        carry = bytearray()  # the start of a line that has not ended in the blocks read so far
        dropping = False  # inside a line already longer than MAX_LINE: not held, skipped to its newline
        marked = False  # ... and it held the marker
        tail = b""  # ... its last bytes, for a marker straddling two blocks
        while chunk := f.read(BLOCK_SIZE):
            position += len(chunk)
            self.counts.read_bytes += len(chunk)
            first = chunk.find(b"\n")
            if dropping:
                marked = marked or _has_marker(tail, chunk if first < 0 else chunk[:first])
                tail = chunk[-len(MARKER) :]
                if first < 0:
                    continue
                self.counts.lines += 1
                if marked:
                    self.counts.skipped["oversized"] += 1
                dropping = marked = False
            elif first < 0:
                carry += chunk
                if len(carry) > MAX_LINE:
                    dropping, marked, tail = True, MARKER in carry, chunk[-len(MARKER) :]
                    carry = bytearray()
                continue
            elif carry:
                carry += chunk[: first + 1]
                self._lines(carry, 0, len(carry))
                carry = bytearray()
            else:
                first = -1  # the block starts with a line of its own: read it with the others
            last = chunk.rfind(b"\n") + 1
            self._lines(chunk, first + 1, last)
            offset = position - len(chunk) + last
            carry = bytearray(chunk[last:])
        self._flush()
        self.counts.partial_bytes = position - offset
        return offset, position

    def _lines(self, buf: bytes | bytearray, lo: int, hi: int) -> None:
        """The complete lines in buf[lo:hi] (hi just after a newline)."""
        if lo >= hi:
            return
        self.counts.lines += buf.count(b"\n", lo, hi)
        view = memoryview(buf)
        find, rfind = buf.find, buf.rfind
        at = find(MARKER, lo, hi)
        while at >= 0:
            begin = rfind(b"\n", lo, at) + 1 or lo
            end = find(b"\n", at, hi)
            if end - begin > MAX_LINE:
                self.counts.skipped["oversized"] += 1
            else:
                self._line(view[begin:end])
            at = find(MARKER, end + 1, hi)

    def _line(self, raw: memoryview) -> None:
        line = self._decode(raw)
        if line is None:
            return
        if line.type != "assistant":
            self.counts.other_types[line.type if isinstance(line.type, str) else repr(line.type)] += 1
            return
        message = line.message
        if message is None or not isinstance(message.usage, dict):
            self.counts.skipped["no_usage"] += 1
            return
        if message.model == SYNTHETIC_MODEL:
            self.counts.api_errors += 1
            return
        key = (_opt_str(message.id), _opt_str(line.request_id))
        if key == (None, None):
            self.counts.skipped["no_ids"] += 1
            return
        if key == self._pending_key:
            self.counts.repeats += 1
        else:
            self._flush()
            if key in self._records:
                self.counts.repeats += 1  # the response's lines were not contiguous: later line wins
            else:
                self.counts.responses += 1
            self._pending_key = key
        self._pending = line

    def _decode(self, raw: memoryview) -> _Line | None:
        try:
            return _DECODER.decode(raw)
        except msgspec.ValidationError:
            self.counts.skipped["malformed"] += 1
            return None
        except msgspec.DecodeError:
            pass
        data = bytes(raw)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                line = _DECODER.decode(data.decode("utf-8", "replace").encode())
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass
            else:
                self.counts.not_utf8 += 1
                return line
        self.counts.skipped["malformed"] += 1
        return None

    def _flush(self) -> None:
        if self._pending is not None and self._pending_key is not None:
            self._records[self._pending_key] = self._record(self._pending)
        self._pending = self._pending_key = None

    def _record(self, line: _Line) -> TranscriptUsage:
        message = line.message
        assert message is not None
        usage: dict[str, Any] = message.usage
        split = UsageRecord(ts=0, profile=None, method="", path="", endpoint="messages", status=0, outcome="ok")
        apply_usage(split, usage)
        s = self._shared
        return TranscriptUsage(
            message_id=_opt_str(message.id),
            request_id=_opt_str(line.request_id),
            session_id=s(line.session_id),
            agent_id=s(line.agent_id),
            is_sidechain=line.is_sidechain is True,
            cwd=s(line.cwd),
            git_branch=s(line.git_branch),
            timestamp=_unix_seconds(line.timestamp),
            version=s(line.version),
            model=s(message.model),
            stop_reason=s(message.stop_reason),
            input_tokens=split.input_tokens,
            cache_read_tokens=split.cache_read_tokens,
            cache_write_5m_tokens=split.cache_write_5m_tokens,
            cache_write_1h_tokens=split.cache_write_1h_tokens,
            cache_write_other_tokens=split.cache_write_other_tokens,
            output_tokens=split.output_tokens,
            web_search_requests=split.web_search_requests,
            web_fetch_requests=split.web_fetch_requests,
            service_tier=s(split.service_tier),
            speed=s(usage.get("speed")),
            inference_geo=s(usage.get("inference_geo")),
            path=self.path,
        )

    def _shared(self, value: Any) -> str | None:
        text = _opt_str(value)
        return None if text is None else self._strings.setdefault(text, text)

    def records(self) -> list[TranscriptUsage]:
        return list(self._records.values())


def _has_marker(before: bytes, piece: bytes) -> bool:
    """MARKER in `piece`, or straddling the end of `before` and the start of `piece`."""
    return MARKER in piece or MARKER in before[-len(MARKER) :] + piece[: len(MARKER)]


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _unix_seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
