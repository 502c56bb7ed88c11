"""The whole ledger's write side beyond the forwarder: Claude Code's transcripts and other machines' exports.

Both write `requests` rows like the forwarder's, one row per response:

- A transcript record (usage/transcripts.py) whose response the forwarder logged is merged into
  that row (its project, `seen` gains SEEN_TRANSCRIPT, `transcript_tokens` keeps the transcript's
  own total); a response only a transcript saw becomes a row of its own (`seen` = SEEN_TRANSCRIPT,
  billing unknown, the profile whose Claude Code config dir holds the file, else none: not routed
  through ccgate). The same response read again (a file re-read, a response straddling two scans)
  updates its row. Rows are matched on the API's request id, then the message id.
- An export (`export_rows`) is JSON Lines in a documented format (README "Ledger export"), a
  machine name on every row; importing one inserts the rows it does not have yet (`origin_key`,
  then the request and message ids), so importing the same export twice changes nothing.

Where each transcript file's scan stopped is kept in the usage log's `import_files`, written in the
same transaction as that file's rows: an import interrupted anywhere is redone, never doubled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccgate.errors import CcgateError, UsageError
from ccgate.reports.rules import PRICED_COLUMNS
from ccgate.usage import store, transcripts
from ccgate.usage.model import SEEN_GATEWAY, SEEN_TRANSCRIPT, UsageRecord
from ccgate.usage.roots import Root, roots_for

EXPORT_FORMAT = "ccgate-ledger/1"
# Columns an export leaves out: the credential fingerprint identifies a secret across machines.
NOT_EXPORTED = frozenset({"credential_fp", "origin_key", "machine"})
TOKEN_FIELDS = (*PRICED_COLUMNS, "web_fetch_requests")


@dataclass(slots=True)
class ImportSummary:
    files: int = 0
    read_bytes: int = 0
    added: int = 0  # new rows: responses no other source had logged
    merged: int = 0  # rows of the forwarder's that the transcript now also covers
    updated: int = 0  # transcript rows whose usage a later line completed
    unchanged: int = 0  # responses read again (a file re-read from its start) that changed nothing
    api_errors: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # lines that gave no record, by reason
    unreadable: list[str] = field(default_factory=list)  # one line each: which file and why

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "read_bytes": self.read_bytes,
            "added": self.added,
            "merged": self.merged,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "api_errors": self.api_errors,
            "skipped": dict(sorted(self.skipped.items())),
            "unreadable": self.unreadable,
        }


def import_now(config: Any, env: Mapping[str, str], db_path: Path | None = None) -> ImportSummary:
    """One import pass over the default roots, on a connection of its own."""
    conn = open_writer(db_path)
    try:
        return import_transcripts(conn, roots_for(config, env))
    finally:
        conn.close()


def refresh_before_report(config: Any, env: Mapping[str, str]) -> ImportSummary | None:
    """What `ccgate stats` runs first: an import pass, unless switched off or a forwarder runs (it
    imports as it goes). A failure is reported as a summary line, never stops the report."""
    from ccgate.gateway.runfile import running

    if not config.settings.import_before_stats or running() is not None:
        return None
    try:
        return import_now(config, env)
    except (CcgateError, sqlite3.Error, OSError) as exc:
        summary = ImportSummary()
        summary.unreadable.append(f"importing transcripts failed: {getattr(exc, 'message', None) or exc}")
        return summary


def import_transcripts(conn: sqlite3.Connection, roots: Iterable[Root], now: float | None = None) -> ImportSummary:
    """Read what is new under each root and write it to the usage log (a transaction per file)."""
    summary = ImportSummary()
    stamp = time.time() if now is None else now
    for root in roots:
        states = _states(conn, root.path)
        for name, result in transcripts.scan_all([root.path], states):
            if isinstance(result, transcripts.TranscriptError):
                summary.unreadable.append(result.message)
                continue
            summary.files += 1
            _count(summary, result.counts)
            if result.state == states.get(name):
                continue  # unchanged: nothing to write
            _write_file(conn, name, result, root.profile, summary, stamp)
    return summary


def _count(summary: ImportSummary, counts: transcripts.ScanCounts) -> None:
    summary.read_bytes += counts.read_bytes
    summary.api_errors += counts.api_errors
    for reason, n in counts.skipped.items():
        summary.skipped[reason] = summary.skipped.get(reason, 0) + n
    if counts.not_utf8:
        summary.skipped["not_utf8"] = summary.skipped.get("not_utf8", 0) + counts.not_utf8
    for kind, n in counts.other_types.items():
        if kind != "user":  # an Agent tool result repeating its subagent's usage: expected
            key = f"unknown_type:{kind}"
            summary.skipped[key] = summary.skipped.get(key, 0) + n


def _states(conn: sqlite3.Connection, root: Path) -> dict[str, transcripts.FileState]:
    rows = conn.execute(
        'SELECT path, device, inode, size, mtime_ns, "offset", head_len, head_hash FROM import_files'
        " WHERE path >= ? AND path < ?",
        (f"{root}{os.sep}", f"{root}{chr(ord(os.sep) + 1)}"),
    ).fetchall()
    return {row[0]: transcripts.FileState(*row[1:]) for row in rows}


def _write_file(
    conn: sqlite3.Connection,
    name: str,
    result: transcripts.ScanResult,
    profile: str | None,
    summary: ImportSummary,
    now: float,
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        known = _known_rows(conn, result.records)
        new_rows = []
        for record in result.records:
            found = known.get(("r", record.request_id)) or known.get(("m", record.message_id))
            if found is None:
                new_rows.append(store_row(transcript_row(record, profile)))
                summary.added += 1
            else:
                outcome = _update_known(conn, found, record)
                setattr(summary, outcome, getattr(summary, outcome) + 1)
        conn.executemany(_INSERT, new_rows)
        st = result.state
        conn.execute(
            'INSERT OR REPLACE INTO import_files (path, device, inode, size, mtime_ns, "offset", head_len, head_hash,'
            " scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, st.device, st.inode, st.size, st.mtime_ns, st.offset, st.head_len, st.head_hash, now),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


_KNOWN_COLUMNS = f"id, seen, transcript_tokens, project, stop_reason, {', '.join(TOKEN_FIELDS)}, request_id, message_id"
_LOOKUP_CHUNK = 500


def _known_rows(
    conn: sqlite3.Connection, records: list[transcripts.TranscriptUsage]
) -> dict[tuple[str, str | None], tuple[Any, ...]]:
    """The rows the log already has for these responses, found by request id ("r") or message id ("m"):
    one query per few hundred records rather than two per record."""
    found: dict[tuple[str, str | None], tuple[Any, ...]] = {}
    for column, tag, values in (
        ("request_id", "r", sorted({r.request_id for r in records if r.request_id})),
        ("message_id", "m", sorted({r.message_id for r in records if r.message_id})),
    ):
        for start in range(0, len(values), _LOOKUP_CHUNK):
            chunk = values[start : start + _LOOKUP_CHUNK]
            rows = conn.execute(
                f"SELECT {_KNOWN_COLUMNS} FROM requests WHERE endpoint = 'messages'"
                f" AND {column} IN ({', '.join('?' for _ in chunk)}) ORDER BY id",
                chunk,
            ).fetchall()
            for row in rows:
                found.setdefault((tag, row[-2] if tag == "r" else row[-1]), tuple(row))
    return found


def _existing(conn: sqlite3.Connection, request_id: str | None, message_id: str | None) -> tuple[Any, ...] | None:
    """The row of this response, if any (the columns of _KNOWN_COLUMNS)."""
    for column, value in (("request_id", request_id), ("message_id", message_id)):
        if value:
            row = conn.execute(
                f"SELECT {_KNOWN_COLUMNS} FROM requests WHERE {column} = ? AND endpoint = 'messages'"
                " ORDER BY id LIMIT 1",
                (value,),
            ).fetchone()
            if row is not None:
                return tuple(row)
    return None


def upsert_transcript_record(conn: sqlite3.Connection, record: transcripts.TranscriptUsage, profile: str | None) -> str:
    """Write one transcript record; returns which it was: "added", "merged", "updated" or "unchanged"
    (inside a transaction)."""
    found = _existing(conn, record.request_id, record.message_id)
    if found is None:
        conn.execute(_INSERT, store_row(transcript_row(record, profile)))
        return "added"
    return _update_known(conn, found, record)


def _update_known(conn: sqlite3.Connection, found: tuple[Any, ...], record: transcripts.TranscriptUsage) -> str:
    """A response the log has: the forwarder's row gains the project, a transcript row the later usage."""
    total = sum(getattr(record, name) for name in TOKEN_FIELDS[:6])
    row_id, seen, known_total, project, stop_reason = found[:5]
    tokens_now = tuple(found[5 : 5 + len(TOKEN_FIELDS)])
    if seen & SEEN_GATEWAY and seen & SEEN_TRANSCRIPT and known_total == total and project is not None:
        return "unchanged"
    if (
        not seen & SEEN_GATEWAY
        and tokens_now == tuple(getattr(record, n) for n in TOKEN_FIELDS)
        and (stop_reason == record.stop_reason)
    ):
        return "unchanged"
    if seen & SEEN_GATEWAY:
        # The forwarder's row is the richer one (headers, billing, limits): it only gains the project.
        conn.execute(
            "UPDATE requests SET project = COALESCE(project, ?), seen = seen | ?, transcript_tokens = ? WHERE id = ?",
            (record.cwd, SEEN_TRANSCRIPT, total, row_id),
        )
        return "merged"
    tokens = ", ".join(f"{name} = ?" for name in TOKEN_FIELDS)
    conn.execute(
        f"UPDATE requests SET {tokens}, stop_reason = ?, project = COALESCE(project, ?) WHERE id = ?",
        (*(getattr(record, name) for name in TOKEN_FIELDS), record.stop_reason, record.cwd, row_id),
    )
    return "updated"


def transcript_row(record: transcripts.TranscriptUsage, profile: str | None) -> UsageRecord:
    return UsageRecord(
        ts=record.timestamp or 0.0,
        profile=profile,
        method="POST",
        path="/v1/messages",
        endpoint="messages",
        status=200,
        outcome="ok",
        model=record.model,
        message_id=record.message_id,
        request_id=record.request_id,
        stream=True,
        stop_reason=record.stop_reason,
        session_id=record.session_id,
        agent_id=record.agent_id,
        user_agent=f"claude-cli/{record.version}" if record.version else None,
        input_tokens=record.input_tokens,
        cache_read_tokens=record.cache_read_tokens,
        cache_write_5m_tokens=record.cache_write_5m_tokens,
        cache_write_1h_tokens=record.cache_write_1h_tokens,
        cache_write_other_tokens=record.cache_write_other_tokens,
        output_tokens=record.output_tokens,
        web_search_requests=record.web_search_requests,
        web_fetch_requests=record.web_fetch_requests,
        service_tier=record.service_tier,
        speed="fast" if record.speed == "fast" else None,
        inference_geo=record.inference_geo,
        project=record.cwd,
        seen=SEEN_TRANSCRIPT,
    )


_INSERT = (
    f"INSERT INTO requests ({', '.join(store.RECORD_FIELDS)}) VALUES ({', '.join('?' for _ in store.RECORD_FIELDS)})"
)


def store_row(record: UsageRecord) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in store.RECORD_FIELDS)


# --- exports: the ledger of one machine, for another -----------------------------------------------


def machine_name(configured: str | None = None) -> str:
    return configured or socket.gethostname() or "this-machine"


def export_rows(conn: sqlite3.Connection, since: float, machine: str) -> Iterator[dict[str, Any]]:
    """The header line, then one object per row from `since` on (rows imported from elsewhere keep
    their machine and origin, so an export of an export stays true)."""
    yield {"format": EXPORT_FORMAT, "machine": machine, "exported_at": time.time()}
    for row in conn.execute("SELECT * FROM requests WHERE ts >= ? ORDER BY id", (since,)):
        data = {name: row[name] for name in store.RECORD_FIELDS if name not in NOT_EXPORTED}
        data["stream"] = bool(data["stream"])
        data["machine"] = row["machine"] or machine
        data["origin"] = row["origin_key"] or f"{machine}:{row['id']}"
        yield data


@dataclass(slots=True)
class MergeSummary:
    machine: str
    rows: int = 0
    added: int = 0
    already_there: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"machine": self.machine, "rows": self.rows, "added": self.added, "already_there": self.already_there}


def import_export(conn: sqlite3.Connection, lines: Iterable[str], source: str, this_machine: str) -> MergeSummary:
    """Merge another machine's export (lines of JSON) into the log, in one transaction."""
    it = iter(lines)
    header = _json_line(next(it, ""), source, 1)
    if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
        raise UsageError(f"{source}: not a ccgate ledger export (its first line names no format {EXPORT_FORMAT!r})")
    summary = MergeSummary(str(header.get("machine") or "?"))
    conn.execute("BEGIN IMMEDIATE")
    try:
        for number, line in enumerate(it, start=2):
            if not line.strip():
                continue
            record = _exported_record(_json_line(line, source, number), source, number, this_machine)
            summary.rows += 1
            if _known(conn, record):
                summary.already_there += 1
                continue
            conn.execute(_INSERT, store_row(record))
            summary.added += 1
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return summary


def _json_line(line: str, source: str, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise UsageError(f"{source}, line {number}: not JSON; nothing was imported") from None


# What each exported field may hold, from UsageRecord's annotations: a hostile or damaged export
# must not put text where the reports add numbers.
_ACCEPT: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}


def _accepts(annotation: str, value: Any) -> bool:
    kinds = [k.strip() for k in annotation.split("|")]
    if value is None:
        return "None" in kinds
    if isinstance(value, bool):
        return "bool" in kinds
    return any(isinstance(value, _ACCEPT[k]) for k in kinds if k in _ACCEPT)


def _exported_record(data: Any, source: str, number: int, this_machine: str) -> UsageRecord:
    if not isinstance(data, dict) or not isinstance(data.get("origin"), str):
        raise UsageError(f"{source}, line {number}: not a ledger row (no origin); nothing was imported")
    fields = {name: data[name] for name in store.RECORD_FIELDS if name in data and name not in NOT_EXPORTED}
    annotations = {f.name: str(f.type) for f in dataclasses.fields(UsageRecord)}
    for name, value in fields.items():
        if not _accepts(annotations[name], value):
            raise UsageError(f"{source}, line {number}: field {name!r} has the wrong type; nothing was imported")
    machine = data.get("machine")
    try:
        record = UsageRecord(**fields)
    except TypeError as exc:
        raise UsageError(
            f"{source}, line {number}: a required field is missing ({exc}); nothing was imported"
        ) from None
    record.machine = None if machine == this_machine else (str(machine) if machine else None)
    record.origin_key = data["origin"]
    return record


def _known(conn: sqlite3.Connection, record: UsageRecord) -> bool:
    if conn.execute("SELECT 1 FROM requests WHERE origin_key = ?", (record.origin_key,)).fetchone():
        return True
    return record.endpoint == "messages" and _existing(conn, record.request_id, record.message_id) is not None


def open_writer(path: Path | None = None) -> sqlite3.Connection:
    """The usage log for writing (created and migrated as needed)."""
    try:
        return store.connect(path)
    except sqlite3.Error as exc:
        raise CcgateError(f"cannot open the usage log for writing: {exc}; see `ccgate doctor`") from None
