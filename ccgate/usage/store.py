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
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ccgate import paths
from ccgate.usage.model import UsageRecord

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []
BUSY_TIMEOUT_MS = 5000

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


def _create_rollup(conn: sqlite3.Connection, table: str, keys: Sequence[tuple[str, str]]) -> None:
    """A table of `messages` rows summed per key, filled from the rows already logged and kept
    up to date by an AFTER INSERT trigger, in the same transaction as each insert."""
    key_names = [name for name, _ in keys]
    columns = [*key_names, "requests", *(name for name, _ in _ROLLUP_SUMS)]
    key_decl = ", ".join(f"{name} {'INTEGER' if name in ('hour', 'card') else 'TEXT'} NOT NULL" for name in key_names)
    sum_decl = ", ".join(f"{name} INTEGER NOT NULL" for name in columns[len(keys) :])
    conn.execute(
        f"CREATE TABLE {table} ({key_decl}, {sum_decl}, first_ts REAL NOT NULL, last_ts REAL NOT NULL,"
        f" PRIMARY KEY ({', '.join(key_names)})) WITHOUT ROWID"
    )
    key_sql = ", ".join(expr for _, expr in keys)
    conn.execute(
        f"INSERT INTO {table} ({', '.join(columns)}, first_ts, last_ts)"
        f" SELECT {key_sql}, COUNT(*), {', '.join(f'SUM({expr})' for _, expr in _ROLLUP_SUMS)}, MIN(ts), MAX(ts)"
        f" FROM requests WHERE endpoint = 'messages' GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}"
    )
    new_row = ", ".join(f"NEW.{c} AS {c}" for c in _ROLLUP_SOURCE_COLUMNS)
    added = ", ".join(f"{c} = {c} + excluded.{c}" for c in columns[len(keys) :])
    # `WHERE true`: an upsert's SELECT needs one, or SQLite reads ON CONFLICT as a join clause.
    conn.execute(
        f"""
        CREATE TRIGGER {table}_sum AFTER INSERT ON requests WHEN NEW.endpoint = 'messages'
        BEGIN
            INSERT INTO {table} ({", ".join(columns)}, first_ts, last_ts)
            SELECT {key_sql}, 1, {", ".join(expr for _, expr in _ROLLUP_SUMS)}, ts, ts
            FROM (SELECT {new_row}) WHERE true
            ON CONFLICT DO UPDATE SET {added},
                first_ts = MIN(first_ts, excluded.first_ts), last_ts = MAX(last_ts, excluded.last_ts);
        END
        """
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


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (SQLite would use the umask)."""
    paths.ensure_private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def open_db(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """A bare connection in autocommit mode (transactions are explicit) with the busy timeout set."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def connect(path: Path | None = None, *, upto: str | None = None) -> sqlite3.Connection:
    """Open (creating and migrating as needed) the usage database; WAL mode, file 0600."""
    path = paths.usage_db() if path is None else Path(path)
    if not path.exists():
        _create_private(path)
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


def connect_reader(path: Path | None = None) -> sqlite3.Connection | None:
    """A connection for reports; None when there is no database yet. Migrates an old file first."""
    path = paths.usage_db() if path is None else Path(path)
    if not path.exists():
        return None
    return connect(path)


# Rows per INSERT statement: one multi-row statement is one trip into SQLite, which releases the
# interpreter lock once instead of once per row (the forwarder's event loop shares that lock).
ROWS_PER_STATEMENT = 200
_row = operator.attrgetter(*RECORD_FIELDS)  # record -> tuple in column order


@functools.lru_cache(maxsize=8)
def _insert_sql(rows: int) -> str:
    values = "(" + ", ".join("?" for _ in RECORD_FIELDS) + ")"
    return f"INSERT INTO requests ({', '.join(RECORD_FIELDS)}) VALUES " + ", ".join([values] * rows)


def insert_records(conn: sqlite3.Connection, records: Iterable[UsageRecord]) -> int:
    """Insert records in one transaction; return how many. Raises sqlite3.Error and rolls back on failure."""
    rows = [_row(r) for r in records]
    if not rows:
        return 0
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(RECORD_FIELDS)
    per = max(1, min(ROWS_PER_STATEMENT, limit))
    conn.execute("BEGIN IMMEDIATE")
    try:
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            conn.execute(_insert_sql(len(chunk)), list(itertools.chain.from_iterable(chunk)))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return len(rows)


def row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    """A `requests` row as a dict of UsageRecord fields (`stream` as bool), plus `id`."""
    out = {name: row[name] for name in ("id", *RECORD_FIELDS)}
    out["stream"] = bool(out["stream"])
    return out


def record_from_row(row: sqlite3.Row) -> UsageRecord:
    data = row_to_dict(row)
    data.pop("id")
    return UsageRecord(**data)


def last_requests(conn: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` requests, oldest first (the order a log reads in)."""
    rows = conn.execute("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    return [row_to_dict(r) for r in reversed(rows)]


def requests_after(conn: sqlite3.Connection, after_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """Requests written after row `after_id`, oldest first (for `ccgate log --follow`)."""
    rows = conn.execute("SELECT * FROM requests WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)).fetchall()
    return [row_to_dict(r) for r in rows]


def max_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM requests").fetchone()[0])


def count_requests(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
