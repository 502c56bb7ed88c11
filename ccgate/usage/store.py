"""The usage database: one SQLite file, table `requests`, schema kept by named migrations.

Migrations follow simonw/llm's `migrations.py`: a decorator appends each function to an
ordered list, `_migrations` holds the names already applied, and `migrate` runs the
missing ones in file order, each together with its record in one transaction. A
migration's identity is its function name; once released, a migration never changes
(add a new one instead). Bodies describe the schema as it was when they were written,
never the current `UsageRecord`, so an old database upgrades through the same steps.

The columns of `requests` are exactly the `UsageRecord` field names plus `id`; reports,
doctor and the dashboard query them by name. The file is 0600 (SQLite gives its -wal and
-shm files the database's mode) and runs in WAL mode so readers never block the writer.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ccgate import paths
from ccgate.usage.db import LATEST_MIGRATION, create_private, open_db
from ccgate.usage.model import SEEN_GATEWAY, SEEN_TRANSCRIPT, UsageRecord

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []

RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UsageRecord))


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _add_columns(conn: sqlite3.Connection, table: str, columns: Sequence[tuple[str, str]]) -> None:
    existing = _columns(conn, table)
    for name, decl in columns:
        if name not in existing:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


@migration
def m001_requests(conn: sqlite3.Connection) -> None:
    """The first schema: what a request was, what it cost, and the unified rate-limit state."""
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS requests (
            id INTEGER PRIMARY KEY,
            ts REAL NOT NULL,
            profile TEXT,
            method TEXT NOT NULL,
            path TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            status INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            error_type TEXT,
            request_model TEXT,
            model TEXT,
            message_id TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            stop_reason TEXT,
            session_id TEXT,
            account_id TEXT,
            user_agent TEXT,
            credential_kind TEXT NOT NULL DEFAULT 'none',
            credential_fp TEXT,
            request_id TEXT,
            ttfb_ms REAL,
            duration_ms REAL NOT NULL DEFAULT 0,
            request_bytes INTEGER NOT NULL DEFAULT 0,
            response_bytes INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_other_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            web_search_requests INTEGER NOT NULL DEFAULT 0,
            web_fetch_requests INTEGER NOT NULL DEFAULT 0,
            count_tokens_input INTEGER,
            service_tier TEXT,
            rl_status TEXT,
            rl_5h_status TEXT,
            rl_5h_utilization REAL,
            rl_5h_reset INTEGER,
            rl_7d_status TEXT,
            rl_7d_utilization REAL,
            rl_7d_reset INTEGER,
            rl_representative_claim TEXT,
            rl_overage_status TEXT,
            retry_after TEXT
        )
        """
    )


@migration
def m002_report_indexes(conn: sqlite3.Connection) -> None:
    """Indexes for the reports: by time, profile, model and session."""
    conn.execute("CREATE INDEX IF NOT EXISTS requests_ts ON requests(ts)")
    conn.execute("CREATE INDEX IF NOT EXISTS requests_profile_ts ON requests(profile, ts)")
    conn.execute("CREATE INDEX IF NOT EXISTS requests_model_ts ON requests(model, ts)")
    conn.execute("CREATE INDEX IF NOT EXISTS requests_session_ts ON requests(session_id, ts)")


@migration
def m003_billing_agents_speed(conn: sqlite3.Connection) -> None:
    """Who paid (subscription/api/unknown), Claude Code's x-app and subagent ids, fast mode.

    No index of its own: a session's agents are found through requests_session_ts."""
    _add_columns(
        conn,
        "requests",
        [
            ("billing", "TEXT NOT NULL DEFAULT 'unknown'"),
            ("x_app", "TEXT"),
            ("agent_id", "TEXT"),
            ("parent_agent_id", "TEXT"),
            ("speed", "TEXT"),
        ],
    )


# The rollups' key and sums, as SELECT lists over a `requests`-shaped source. The long-context
# flag (prompt > 200,000 tokens) and fast mode are kept because they change the price per
# token; a change to that rule needs a new migration that rebuilds the tables. Released with m004:
# like a migration's body, these never change (a new migration gets lists of its own).
_ROLLUP_KEYS = (
    ("hour", "CAST(ts / 3600 AS INTEGER)"),
    ("profile", "COALESCE(profile, '')"),
    ("account_id", "COALESCE(account_id, '')"),
    ("model", "COALESCE(model, request_model, '')"),
    ("billing", "billing"),
    (
        "card",
        "(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
        " + cache_write_other_tokens > 200000) * 2 + (COALESCE(speed, '') = 'fast')",
    ),
)
_ROLLUP_SUMS = (
    ("errors", "CASE WHEN status >= 400 OR outcome != 'ok' THEN 1 ELSE 0 END"),
    ("input_tokens", "input_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_5m_tokens", "cache_write_5m_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
    ("cache_write_other_tokens", "cache_write_other_tokens"),
    ("output_tokens", "output_tokens"),
    ("web_search_requests", "web_search_requests"),
)
_ROLLUP_SOURCE_COLUMNS = (
    "ts",
    "profile",
    "account_id",
    "model",
    "request_model",
    "billing",
    "speed",
    "status",
    "outcome",
    "session_id",
    *(name for name, _ in _ROLLUP_SUMS[1:]),
)


def _create_rollup(
    conn: sqlite3.Connection,
    table: str,
    keys: Sequence[tuple[str, str]],
    sums: Sequence[tuple[str, str]] = _ROLLUP_SUMS,
    source_columns: Sequence[str] = _ROLLUP_SOURCE_COLUMNS,
    *,
    follow_changes: bool = False,
) -> None:
    """A table of `messages` rows summed per key, filled from the rows already logged and kept up to
    date by triggers, in the same transaction as each change: inserts only, or (`follow_changes`)
    deletes and updates too, a key whose last row went away disappearing with it."""
    key_names = [name for name, _ in keys]
    columns = [*key_names, "requests", *(name for name, _ in sums)]
    key_decl = ", ".join(
        f"{name} {'INTEGER' if name in ('hour', 'card', 'seen') else 'TEXT'} NOT NULL" for name in key_names
    )
    sum_decl = ", ".join(f"{name} INTEGER NOT NULL" for name in columns[len(keys) :])
    conn.execute(
        f"CREATE TABLE {table} ({key_decl}, {sum_decl}, first_ts REAL NOT NULL, last_ts REAL NOT NULL,"
        f" PRIMARY KEY ({', '.join(key_names)})) WITHOUT ROWID"
    )
    key_sql = ", ".join(expr for _, expr in keys)
    columns_read = (*source_columns, *(() if "endpoint" in source_columns else ("endpoint",)))
    conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}, first_ts, last_ts)"
        f" SELECT {key_sql}, COUNT(*), {', '.join(f'SUM({expr})' for _, expr in sums)}, MIN(ts), MAX(ts)"
        f" FROM requests WHERE endpoint = 'messages' GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
    )

    def upsert(row: str, sign: str) -> str:
        """Add (sign "") or take away (sign "-") the `row` (NEW or OLD) of `requests` from its key."""
        picked = ", ".join(f"{row}.{c} AS {c}" for c in columns_read)
        added = ", ".join(f"{c} = {c} + excluded.{c}" for c in columns[len(keys) :])
        values = ", ".join(f"{sign}({expr})" for _, expr in sums)
        # `WHERE …`: an upsert's SELECT needs one, or SQLite reads ON CONFLICT as a join clause.
        return (
            f"INSERT INTO {table} ({', '.join(columns)}, first_ts, last_ts)"
            f" SELECT {key_sql}, {sign}1, {values}, ts, ts FROM (SELECT {picked}) WHERE endpoint = 'messages'"
            f" ON CONFLICT DO UPDATE SET {added},"
            " first_ts = MIN(first_ts, excluded.first_ts), last_ts = MAX(last_ts, excluded.last_ts);"
        )

    def settle(row: str) -> str:
        """After taking `row` away: drop its key if no request is left, else recompute the key's
        first and last timestamps from the requests it still has (a minimum cannot be subtracted)."""
        picked = ", ".join(f"{row}.{c} AS {c}" for c in columns_read)
        its_key = f"({', '.join(key_names)}) IN (SELECT {', '.join(expr for _, expr in keys)} FROM (SELECT {picked}))"
        same_key = " AND ".join(f"{expr} = {table}.{name}" for name, expr in keys[1:])
        return (
            f"DELETE FROM {table} WHERE requests <= 0 AND {its_key};"
            f" UPDATE {table} SET (first_ts, last_ts) = (SELECT MIN(ts), MAX(ts) FROM requests"
            f" WHERE endpoint = 'messages' AND ts >= {table}.hour * 3600 AND ts < {table}.hour * 3600 + 3600"
            f" AND {same_key}) WHERE {its_key};"
        )

    conn.execute(f"CREATE TRIGGER {table}_sum AFTER INSERT ON requests BEGIN {upsert('NEW', '')} END")
    if follow_changes:
        conn.execute(
            f"CREATE TRIGGER {table}_unsum AFTER DELETE ON requests BEGIN {upsert('OLD', '-')} {settle('OLD')} END"
        )
        conn.execute(
            f"CREATE TRIGGER {table}_resum AFTER UPDATE ON requests BEGIN"
            f" {upsert('OLD', '-')} {settle('OLD')} {upsert('NEW', '')} END"
        )


@migration
def m004_hourly_rollups(conn: sqlite3.Connection) -> None:
    """`hourly`: the `messages` rows summed per UTC hour, profile, account, model, billing and price
    tier; `session_hourly`: the same per session too.

    Reports over days, weeks, months, models, profiles or sessions read these sums for whole
    hours and the raw rows only for the partial hours at the ends of their range: a 90-day report
    on a million-row log reads tens of thousands of sums instead of a million rows. Sessions get
    a table of their own because a session key multiplies the rows, which the other reports
    should not pay for. Triggers (rather than the writer) keep both exact for every way a row
    gets in. Rows are never updated or deleted; a change to either needs a trigger of its own.
    """
    _create_rollup(conn, "hourly", _ROLLUP_KEYS)
    _create_rollup(
        conn, "session_hourly", (_ROLLUP_KEYS[0], ("session_id", "COALESCE(session_id, '')"), *_ROLLUP_KEYS[1:])
    )


# m005's rollup key and source columns, frozen with it. The price card: the prompt's band against
# the tier starts the price data had when it was written (100k: claude-haiku-5-5; 200k: the
# long-context models) times 4, plus US-only inference times 2, plus fast mode. A model whose tier
# starts elsewhere is read from the raw rows (reports/stats.py), so the sums are never wrong.
_PROMPT = (
    "(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens + cache_write_other_tokens)"
)
_LEDGER_CARD = (
    f"(({_PROMPT} > 100000) + ({_PROMPT} > 200000)) * 4"
    " + (COALESCE(inference_geo, '') = 'us') * 2 + (COALESCE(speed, '') = 'fast')"
)
_LEDGER_KEYS = (
    ("hour", "CAST(ts / 3600 AS INTEGER)"),
    ("profile", "COALESCE(profile, '')"),
    ("account_id", "COALESCE(account_id, '')"),
    ("project", "COALESCE(project, '')"),
    ("machine", "COALESCE(machine, '')"),
    ("seen", "seen"),
    ("model", "COALESCE(model, request_model, '')"),
    ("billing", "billing"),
    ("card", _LEDGER_CARD),
)
_LEDGER_SOURCE_COLUMNS = (
    *_ROLLUP_SOURCE_COLUMNS,
    "project",
    "machine",
    "seen",
    "inference_geo",
)


@migration
def m005_ledger(conn: sqlite3.Connection) -> None:
    """The whole ledger and the price rules.

    `requests` gains: `inference_geo` (US-only inference is priced higher), `project` (the session's
    working directory, from Claude Code's transcripts), `machine` (the machine an imported export
    came from; NULL: this one), `seen` (bit 1: the forwarder saw it, bit 2: a transcript recorded
    it) and `transcript_tokens` (the transcript's own token total for a row both saw, so the two
    can be reconciled). Request and message ids get indexes: each response is one row, looked up
    by either. The hourly sums are rebuilt with the new key and now follow deletes and updates
    too, so a transcript row merged into the forwarder's row moves its sums with it.
    """
    _add_columns(
        conn,
        "requests",
        [
            ("inference_geo", "TEXT"),
            ("project", "TEXT"),
            ("machine", "TEXT"),
            ("seen", "INTEGER NOT NULL DEFAULT 1"),
            ("transcript_tokens", "INTEGER"),
        ],
    )
    conn.execute("CREATE INDEX requests_request_id ON requests(request_id) WHERE request_id IS NOT NULL")
    conn.execute("CREATE INDEX requests_message_id ON requests(message_id) WHERE message_id IS NOT NULL")
    for table in ("hourly", "session_hourly"):
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_sum")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    _create_ledger_rollups(conn, _ROLLUP_SUMS)


def _create_ledger_rollups(conn: sqlite3.Connection, sums: Sequence[tuple[str, str]]) -> None:
    """`hourly` and `session_hourly` with m005's keys (frozen with it) and these sums."""
    # Per session: no machine (a session runs on one), the rest as in `hourly`.
    session_keys = (_LEDGER_KEYS[0], ("session_id", "COALESCE(session_id, '')"), *_LEDGER_KEYS[1:4], *_LEDGER_KEYS[5:])
    for table, keys in (("hourly", _LEDGER_KEYS), ("session_hourly", session_keys)):
        _create_rollup(conn, table, keys, sums, source_columns=_LEDGER_SOURCE_COLUMNS, follow_changes=True)


@migration
def m006_imports(conn: sqlite3.Connection) -> None:
    """What importing needs: where each transcript file's last scan stopped (`import_files`, kept in the
    same transaction as the rows it added, so an import is never half-remembered), `origin_key` for
    rows merged from another machine's export (machine and its row id: re-importing adds nothing),
    and indexes that find a transcript-only row by its ids when the forwarder logs the same response.
    """
    conn.execute(
        """
        CREATE TABLE import_files (
            path TEXT PRIMARY KEY,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            "offset" INTEGER NOT NULL,
            head_len INTEGER NOT NULL,
            head_hash TEXT NOT NULL,
            scanned_at REAL NOT NULL
        )
        """
    )
    _add_columns(conn, "requests", [("origin_key", "TEXT")])
    conn.execute("CREATE UNIQUE INDEX requests_origin_key ON requests(origin_key) WHERE origin_key IS NOT NULL")
    conn.execute("CREATE INDEX requests_transcript_request ON requests(request_id) WHERE seen = 2")
    conn.execute("CREATE INDEX requests_transcript_message ON requests(message_id) WHERE seen = 2")


@migration
def m007_limits_index(conn: sqlite3.Connection) -> None:
    """The newest rate-limit figures of a profile in one index look-up (reports/limits.py asks per
    profile for every status line, view and alert check). With (profile, ts) alone, a profile whose
    responses never carry limits (an API key) made SQLite walk its whole 8-day look-back: 17 ms on a
    million-row log, twice per dashboard view; the partial index holds only rows that have figures.
    """
    conn.execute(
        "CREATE INDEX requests_limits ON requests(profile, ts)"
        " WHERE rl_5h_utilization IS NOT NULL OR rl_7d_utilization IS NOT NULL"
    )


# m008's sums, frozen with it: m005's and how many of the key's requests carried usage (tokens or web
# searches), which is what a missing price leaves uncounted (reports/rules.needs_price).
_USAGE_SUMS = (
    *_ROLLUP_SUMS,
    ("priced", f"CASE WHEN {_PROMPT} + output_tokens > 0 OR web_search_requests > 0 THEN 1 ELSE 0 END"),
)


@migration
def m008_rollup_usage_counts(conn: sqlite3.Connection) -> None:
    """The hourly sums count the requests that carried usage (`priced`): a group of a model no price
    source knows reports how many of its requests went unpriced, not also its refusals (a 429 has no
    tokens and needs no price). Both tables are rebuilt from the rows, with m005's keys."""
    for table in ("hourly", "session_hourly"):
        for trigger in ("sum", "unsum", "resum"):
            conn.execute(f"DROP TRIGGER IF EXISTS {table}_{trigger}")
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    _create_ledger_rollups(conn, _USAGE_SUMS)


if MIGRATIONS[-1].__name__ != LATEST_MIGRATION:
    raise RuntimeError(f"usage/db.py's LATEST_MIGRATION must name {MIGRATIONS[-1].__name__}")


def _ensure_migrations_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    _ensure_migrations_table(conn)
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]


def migrate(conn: sqlite3.Connection, upto: str | None = None) -> list[str]:
    """Apply the missing migrations in order (stop after `upto`, for tests); return their names."""
    done = set(applied_migrations(conn))
    ran: list[str] = []
    for fn in MIGRATIONS:
        name = fn.__name__
        if name not in done:
            # Explicit transaction: the schema change and its record land together or not at all.
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process (serve starting while `ccgate stats` runs) may have applied it
                # while this one waited for the write lock: look again now that the lock is ours.
                if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone() is None:
                    fn(conn)
                    conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
                    ran.append(name)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if name == upto:
            break
    return ran


def connect(path: Path | None = None, *, upto: str | None = None) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the usage database; WAL mode, file 0600."""
    path = paths.usage_db() if path is None else Path(path)
    if not path.exists():
        create_private(path)
    conn = open_db(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a power cut may lose the last transactions, never corrupt the file.
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn, upto=upto)
    except BaseException:
        conn.close()
        raise
    conn.row_factory = sqlite3.Row
    return conn


# Rows per INSERT statement: one multi-row statement is one trip into SQLite, which releases the
# interpreter lock once instead of once per row (the forwarder's event loop shares that lock).
# Statements carry 1, 2, 4, ... ROWS_PER_STATEMENT rows and no other count: the connection keeps
# each distinct statement prepared (with the rollup triggers compiled in, ~6 KiB per row), and a
# statement for every batch size from 1 to 64 held 14 MiB where these eight hold under 2.
ROWS_PER_STATEMENT = 128
_row = operator.attrgetter(*RECORD_FIELDS)  # record -> tuple in column order


def statement_sizes(rows: int, most: int) -> list[int]:
    """`rows` split into powers of two of at most `most` (a power of two), largest first."""
    sizes = []
    while rows:
        size = min(most, 1 << (rows.bit_length() - 1))
        sizes.append(size)
        rows -= size
    return sizes


@functools.lru_cache(maxsize=8)
def _insert_sql(rows: int) -> str:
    values = "(" + ", ".join("?" for _ in RECORD_FIELDS) + ")"
    return f"INSERT INTO requests ({', '.join(RECORD_FIELDS)}) VALUES " + ", ".join([values] * rows)


def insert_records(conn: sqlite3.Connection, records: Iterable[UsageRecord]) -> int:
    """Insert records in one transaction; return how many. Raises sqlite3.Error and rolls back on failure.

    A response an import already logged from a transcript (and nothing else) is one row, not two:
    the forwarder's record takes its place, keeping the transcript's project and token total."""
    batch = list(records)
    if not batch:
        return 0
    limit = min(ROWS_PER_STATEMENT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(RECORD_FIELDS))
    most = 1 << (max(1, limit).bit_length() - 1)
    conn.execute("BEGIN IMMEDIATE")
    try:
        _absorb_transcript_rows(conn, batch)
        rows = [_row(r) for r in batch]
        start = 0
        for size in statement_sizes(len(rows), most):
            chunk = rows[start : start + size]
            conn.execute(_insert_sql(size), list(itertools.chain.from_iterable(chunk)))
            start += size
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return len(rows)


TOKEN_TOTAL_SQL = (
    "(input_tokens + cache_read_tokens + cache_write_5m_tokens + cache_write_1h_tokens"
    " + cache_write_other_tokens + output_tokens)"
)


# Ids per lookup statement, at most; a lookup carries a power of two of them, padded with NULLs
# (which match nothing), for the reason the inserts do (ROWS_PER_STATEMENT): a statement per batch
# size would churn the connection's cache of prepared statements, the inserts' among them.
IDS_PER_LOOKUP = 256


def _absorb_transcript_rows(conn: sqlite3.Connection, records: list[UsageRecord]) -> None:
    """Merge into `records` the transcript-only rows of the same responses, and delete those rows."""
    seen_by_gateway = [r for r in records if r.seen & SEEN_GATEWAY and r.endpoint == "messages"]
    request_ids = sorted({r.request_id for r in seen_by_gateway if r.request_id})
    message_ids = sorted({r.message_id for r in seen_by_gateway if r.message_id})
    found = []
    for start in range(0, max(len(request_ids), len(message_ids)), IDS_PER_LOOKUP):
        requests = request_ids[start : start + IDS_PER_LOOKUP]
        messages = message_ids[start : start + IDS_PER_LOOKUP]
        size = 1 << (max(len(requests), len(messages)) - 1).bit_length()
        padded = [*requests, *[None] * (size - len(requests)), *messages, *[None] * (size - len(messages))]
        found += conn.execute(_transcript_rows_sql(size), padded).fetchall()
    if not found:
        return
    by_request = {row[1]: row for row in found if row[1]}
    by_message = {row[2]: row for row in found if row[2]}
    absorbed = []
    for rec in seen_by_gateway:
        row = by_request.get(rec.request_id) if rec.request_id else None
        row = row or (by_message.get(rec.message_id) if rec.message_id else None)
        if row is None:
            continue
        rec.project = rec.project or row[3]
        rec.seen |= SEEN_TRANSCRIPT
        rec.transcript_tokens = row[4]
        absorbed.append(row[0])
    if absorbed:
        conn.executemany("DELETE FROM requests WHERE id = ?", [(row_id,) for row_id in absorbed])


@functools.lru_cache(maxsize=9)  # 1, 2, 4 ... IDS_PER_LOOKUP
def _transcript_rows_sql(ids: int) -> str:
    marks = ", ".join("?" * ids)
    return (
        f"SELECT id, request_id, message_id, project, {TOKEN_TOTAL_SQL} FROM requests"
        f" WHERE seen = {SEEN_TRANSCRIPT} AND (request_id IN ({marks}) OR message_id IN ({marks}))"
    )


def row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A `requests` row as a dict of UsageRecord fields (`stream` as bool), plus `id`."""
    out = {name: row[name] for name in ("id", *RECORD_FIELDS)}
    out["stream"] = bool(out["stream"])
    return out


def record_from_row(row: sqlite3.Row) -> UsageRecord:
    data = row_to_dict(row)
    data.pop("id")
    return UsageRecord(**data)
