"""The usage database: schema, migrations from the first version, file mode, WAL, inserts and queries."""

from __future__ import annotations

import dataclasses
import sqlite3
import stat
from pathlib import Path

import pytest

from ccgate import paths
from ccgate.reports import feed
from ccgate.usage import store
from ccgate.usage.db import open_db
from ccgate.usage.model import UsageRecord

# The schema ccgate's first usage-log release wrote (migration m001_requests), frozen here as SQL so
# that an accidental edit of that migration shows up as a failing upgrade rather than passing unnoticed.
SCHEMA_V1 = """
CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);
INSERT INTO _migrations VALUES ('m001_requests', 1764000000.0);
CREATE TABLE requests (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, profile TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
    endpoint TEXT NOT NULL, status INTEGER NOT NULL, outcome TEXT NOT NULL, error_type TEXT, request_model TEXT,
    model TEXT, message_id TEXT, stream INTEGER NOT NULL DEFAULT 0, stop_reason TEXT, session_id TEXT,
    account_id TEXT, user_agent TEXT, credential_kind TEXT NOT NULL DEFAULT 'none', credential_fp TEXT,
    request_id TEXT, ttfb_ms REAL, duration_ms REAL NOT NULL DEFAULT 0, request_bytes INTEGER NOT NULL DEFAULT 0,
    response_bytes INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_5m_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0, cache_write_other_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0, web_search_requests INTEGER NOT NULL DEFAULT 0,
    web_fetch_requests INTEGER NOT NULL DEFAULT 0, count_tokens_input INTEGER, service_tier TEXT, rl_status TEXT,
    rl_5h_status TEXT, rl_5h_utilization REAL, rl_5h_reset INTEGER, rl_7d_status TEXT, rl_7d_utilization REAL,
    rl_7d_reset INTEGER, rl_representative_claim TEXT, rl_overage_status TEXT, retry_after TEXT
);
INSERT INTO requests (ts, profile, method, path, endpoint, status, outcome, model, input_tokens, output_tokens)
VALUES (1764000000.0, 'max', 'POST', '/v1/messages', 'messages', 200, 'ok', 'claude-sonnet-5', 10, 20);
"""
ALL_MIGRATIONS = [
    "m001_requests",
    "m002_report_indexes",
    "m003_billing_agents_speed",
    "m004_hourly_rollups",
    "m005_ledger",
    "m006_imports",
    "m007_limits_index",
    "m008_rollup_usage_counts",
]
INDEXES = {
    "requests_ts",
    "requests_profile_ts",
    "requests_model_ts",
    "requests_session_ts",
    "requests_request_id",
    "requests_message_id",
    "requests_origin_key",
    "requests_transcript_request",
    "requests_transcript_message",
    "requests_limits",
}


def columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute("PRAGMA table_info(requests)")]


def indexes(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}


def record(**kw: object) -> UsageRecord:
    base: dict[str, object] = dict(
        ts=1.0, profile="p", method="POST", path="/v1/messages", endpoint="messages", status=200, outcome="ok"
    )
    base.update(kw)
    return UsageRecord(**base)  # type: ignore[arg-type]


def test_fresh_database_has_exact_schema() -> None:
    conn = store.connect()
    assert paths.usage_db().exists()
    assert set(columns(conn)) == {"id", *(f.name for f in dataclasses.fields(UsageRecord))}
    assert len(columns(conn)) == len(dataclasses.fields(UsageRecord)) + 1
    assert store.applied_migrations(conn) == ALL_MIGRATIONS
    assert indexes(conn) == INDEXES
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migration_another_process_applied_meanwhile_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Process A reads the applied list, process B migrates, then A gets the write lock: A must not
    # run B's migrations again (m004's CREATE TABLE would fail and `ccgate stats` would crash).
    db = tmp_path / "usage.db"
    store.connect(db, upto="m003_billing_agents_speed").close()
    stale = store.applied_migrations(open_db(db))
    store.connect(db).close()  # "process B" brings the file up to date
    late = open_db(db)
    monkeypatch.setattr(store, "applied_migrations", lambda conn: stale)
    assert store.migrate(late) == []
    monkeypatch.undo()
    assert store.applied_migrations(late) == ALL_MIGRATIONS


def test_upgrade_from_first_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.executescript(SCHEMA_V1)
    old.close()
    conn = store.connect(db)
    assert store.applied_migrations(conn) == ALL_MIGRATIONS
    assert set(columns(conn)) == {"id", *store.RECORD_FIELDS}
    assert indexes(conn) == INDEXES
    (row,) = feed.log_rows(conn, 10)
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == ("claude-sonnet-5", 10, 20)
    assert row["billing"] == "unknown" and row["agent_id"] is None
    # The upgraded file takes new records like a fresh one, and reopening changes nothing.
    store.insert_records(conn, [record(billing="subscription", agent_id="a1")])
    conn.close()
    again = store.connect(db)
    assert store.applied_migrations(again) == ALL_MIGRATIONS
    assert [r["billing"] for r in feed.log_rows(again, 10)] == ["unknown", "subscription"]


def test_migrations_stop_at_a_named_step_and_resume(tmp_path: Path) -> None:
    db = tmp_path / "steps.db"
    first = store.connect(db, upto="m001_requests")
    assert store.applied_migrations(first) == ["m001_requests"]
    assert "billing" not in columns(first)
    first.close()
    assert store.applied_migrations(store.connect(db)) == ALL_MIGRATIONS


def test_file_modes_are_private() -> None:
    conn = store.connect()
    store.insert_records(conn, [record()])
    db = paths.usage_db()
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_insert_and_query_helpers() -> None:
    conn = store.connect()
    records = [record(ts=float(i), output_tokens=i, stream=bool(i % 2)) for i in range(1, 8)]
    assert store.insert_records(conn, records) == 7
    assert store.insert_records(conn, []) == 0
    last = feed.log_rows(conn, 3)
    assert [r["output_tokens"] for r in last] == [5, 6, 7]
    assert last[-1]["stream"] is True
    assert [r["output_tokens"] for r in feed.log_rows_after(conn, 5)] == [6, 7]
    assert feed.last_id(conn) == 7 and count(conn) == 7
    back = store.record_from_row(conn.execute("SELECT * FROM requests WHERE id = 7").fetchone())
    assert back == records[-1]


@pytest.mark.parametrize(
    ("rows", "sizes"),
    [
        (1, [1]),
        (13, [8, 4, 1]),
        (127, [64, 32, 16, 8, 4, 2, 1]),
        (128, [128]),
        (129, [128, 1]),
        (255, [128, 64, 32, 16, 8, 4, 2, 1]),
        (256, [128, 128]),
        (300, [128, 128, 32, 8, 4]),
    ],
)
def test_a_batch_goes_in_as_statements_of_power_of_two_rows(rows: int, sizes: list[int]) -> None:
    assert store.statement_sizes(rows, 128) == sizes


def test_a_batch_past_one_statement_keeps_every_row_in_order() -> None:
    conn = store.connect()
    records = [record(ts=float(i), output_tokens=i) for i in range(1, 301)]  # 128 + 128 + 32 + 8 + 4
    assert store.insert_records(conn, records) == 300
    stored = conn.execute("SELECT id, output_tokens FROM requests ORDER BY id").fetchall()
    assert [tuple(r) for r in stored] == [(i, i) for i in range(1, 301)]


def test_the_forwarders_records_take_the_place_of_transcript_rows_across_a_long_batch() -> None:
    """A transcript row matched by request id (near the start) or by message id (past 256 records,
    the most one lookup carries) gives way to the forwarder's record of the same response."""
    conn = store.connect()
    transcript = [
        record(ts=5.0, request_id="req_0005", seen=2, project="/work/a", input_tokens=7, output_tokens=3),
        record(ts=290.0, message_id="msg_0290", seen=2, project="/work/b", output_tokens=11),
        record(ts=1000.0, request_id="req_other", seen=2, project="/work/c"),
    ]
    store.insert_records(conn, transcript)
    gateway = [record(ts=float(i), request_id=f"req_{i:04d}", message_id=f"msg_{i:04d}") for i in range(300)]
    assert store.insert_records(conn, gateway) == 300
    rows = {r["ts"]: r for r in conn.execute("SELECT ts, seen, project, transcript_tokens, request_id FROM requests")}
    assert len(rows) == 301  # 300 from the forwarder, and the transcript row nobody forwarded
    assert (rows[5.0]["seen"], rows[5.0]["project"], rows[5.0]["transcript_tokens"]) == (3, "/work/a", 10)
    assert (rows[290.0]["seen"], rows[290.0]["project"], rows[290.0]["transcript_tokens"]) == (3, "/work/b", 11)
    assert (rows[4.0]["seen"], rows[4.0]["project"]) == (1, None)
    assert rows[1.0]["request_id"] == "req_0001"
    assert conn.execute("SELECT COUNT(*) FROM requests WHERE request_id = 'req_other'").fetchone()[0] == 1


def test_the_transcript_lookup_comes_in_seven_shapes_for_batches_of_one_to_sixty_four() -> None:
    """Each distinct statement stays prepared in the connection's cache: batches of every size from 1 to
    64 look up ids in lists of 1, 2, 4 ... 64 (NULL-padded), never one shape per batch size."""
    conn = store.connect()
    lookups: list[str] = []
    conn.set_trace_callback(lambda sql: lookups.append(sql) if "seen = 2" in sql else None)
    n = 0
    for size in range(1, 65):
        store.insert_records(conn, [record(request_id=f"r{n + i}", message_id=f"m{n + i}") for i in range(size)])
        n += size
    assert len(lookups) == 64
    request_lists = [sql.partition("request_id IN (")[2].partition(")")[0].split(", ") for sql in lookups]
    assert {len(ids) for ids in request_lists} == {1, 2, 4, 8, 16, 32, 64}
    assert [sum(i != "NULL" for i in ids) for ids in request_lists] == list(range(1, 65))


@pytest.mark.parametrize(("batch", "lists"), [(255, [256]), (256, [256]), (257, [256, 1]), (513, [256, 256, 1])])
def test_one_lookup_carries_at_most_256_ids(batch: int, lists: list[int]) -> None:
    conn = store.connect()
    lookups: list[str] = []
    conn.set_trace_callback(lambda sql: lookups.append(sql) if "seen = 2" in sql else None)
    store.insert_records(conn, [record(request_id=f"r{i}", message_id=f"m{i}") for i in range(batch)])
    assert [len(sql.partition("message_id IN (")[2].partition(")")[0].split(", ")) for sql in lookups] == lists


def test_failed_insert_rolls_back_whole_batch() -> None:
    conn = store.connect()
    bad = record()
    bad.method = None  # type: ignore[assignment]  # NOT NULL column
    try:
        store.insert_records(conn, [record(), bad])
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("insert of a NULL method should fail")
    assert count(conn) == 0
    assert not conn.in_transaction


def test_reader_does_not_block_writer() -> None:
    writer = store.connect()
    store.insert_records(writer, [record()])
    reader = store.connect()
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1
    store.insert_records(writer, [record(), record()])  # completes while the reader's snapshot is open
    assert reader.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 1
    reader.execute("COMMIT")
    assert count(reader) == 3


def test_hourly_sums_follow_deletes_and_updates(tmp_path: Path) -> None:
    """Sums kept through inserts, deletes and updates equal the sums of a log that only ever got the
    surviving rows inserted; a key whose last row went away is gone."""
    from tests.reports.conftest import rec

    def rows(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
        return [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9")]

    base = 1_790_000_000.0
    changed = store.connect(tmp_path / "changed.db")
    store.insert_records(
        changed,
        [
            rec(base + i * 600, input_tokens=10 * i, output_tokens=i, session_id=f"s{i % 2}", project="/a")
            for i in range(12)
        ],
    )
    changed.execute("DELETE FROM requests WHERE id IN (2, 5)")
    changed.execute("UPDATE requests SET project = '/b', model = 'claude-opus-4-8' WHERE id = 7")
    changed.execute("UPDATE requests SET output_tokens = output_tokens + 1000 WHERE id = 9")
    changed.execute("DELETE FROM requests WHERE id = 12")  # the only row of its hour and project
    fresh = store.connect(tmp_path / "fresh.db")
    survivors = [store.record_from_row(r) for r in changed.execute("SELECT * FROM requests ORDER BY id")]
    store.insert_records(fresh, survivors)
    for table in ("hourly", "session_hourly"):
        assert rows(changed, table) == rows(fresh, table), table
    assert changed.execute("SELECT COUNT(*) FROM hourly WHERE requests <= 0").fetchone()[0] == 0


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


def test_a_reader_tells_a_log_one_migration_behind_and_never_upgrades_it_unasked(tmp_path: Path) -> None:
    from ccgate.reports import reader

    db = tmp_path / "usage.db"
    store.connect(db, upto="m007_limits_index").close()  # everything but the last migration
    with pytest.raises(reader.LogOutdated):
        reader.open_log(db)
    assert store.applied_migrations(store.connect(db, upto="m007_limits_index"))[-1] == "m007_limits_index"
    conn = reader.open_log(db, upgrade=True)
    assert conn is not None and reader.current(conn)
    assert store.applied_migrations(store.connect(db))[-1] == "m008_rollup_usage_counts"
