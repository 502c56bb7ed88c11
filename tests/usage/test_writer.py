"""UsageWriter: never blocks submit, writes everything once, waits out an unwritable database, counts losses."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ccgate.reports import feed
from ccgate.usage import store
from ccgate.usage.model import Exchange, UsageRecord
from ccgate.usage.writer import UsageWriter


def exchange(i: int = 0, **kw: Any) -> Exchange:
    base: dict[str, Any] = dict(
        started_at=1764000000.0 + i,
        profile="p",
        method="POST",
        path="/v1/messages",
        status=200,
        outcome="ok",
        ttfb_ms=1.0,
        duration_ms=2.0,
        request_bytes=10,
        response_bytes=20,
        credential_kind="oauth",
        credential_fp="fp",
        response_body=b'{"model":"m","usage":{"input_tokens":%d,"output_tokens":1}}' % i,
    )
    base.update(kw)
    return Exchange(**base)


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def rows(db: Path) -> list[dict[str, Any]]:
    conn = store.connect(db)
    try:
        return feed.log_rows(conn, 100_000)
    finally:
        conn.close()


def lock(db: Path) -> sqlite3.Connection:
    """Hold the database's write lock from another connection: writes fail even for root."""
    holder = store.connect(db)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


async def test_writes_every_record_and_feeds_listeners(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    priced_on: set[int] = set()

    def pricing(records: Sequence[UsageRecord]) -> list[Decimal | None]:
        priced_on.add(threading.get_ident())
        return [Decimal(rec.input_tokens) / 100 if rec.input_tokens % 7 else None for rec in records]

    writer = UsageWriter(db, pricing=pricing)
    seen: list[tuple[UsageRecord, Decimal | None, int]] = []
    writer.add_listener(lambda rec, cost: seen.append((rec, cost, threading.get_ident())))
    await writer.start()
    for i in range(300):
        writer.submit(exchange(i))
    await until(lambda: len(seen) == 300)
    await writer.close()
    assert all(ident == threading.get_ident() for _, _, ident in seen)  # called on the event loop's thread
    assert priced_on and threading.get_ident() not in priced_on  # priced on the writer's thread, never the loop
    assert sorted(rec.input_tokens for rec, _, _ in seen) == list(range(300))
    # Each record comes with its own price, once: 0.07 for 7 tokens would be another record's.
    by_tokens = {rec.input_tokens: cost for rec, cost, _ in seen}
    assert (by_tokens[0], by_tokens[1], by_tokens[7], by_tokens[299]) == (None, Decimal("0.01"), None, Decimal("2.99"))
    assert [r["input_tokens"] for r in rows(db)] == list(range(300))
    health = writer.health()
    assert (health["written"], health["backlog"], health["dropped"], health["last_error"]) == (300, 0, 0, None)


async def test_a_pricing_failure_leaves_the_records_written_and_unpriced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def pricing(records: Sequence[UsageRecord]) -> list[Decimal | None]:
        raise ValueError("price data broken")

    writer = UsageWriter(tmp_path / "u.db", pricing=pricing)
    seen: list[Decimal | None] = []
    writer.add_listener(lambda rec, cost: seen.append(cost))
    await writer.start()
    for i in range(5):
        writer.submit(exchange(i))
    await until(lambda: len(seen) == 5)
    await writer.close()
    assert seen == [None] * 5
    assert writer.health()["written"] == 5 and len(rows(tmp_path / "u.db")) == 5
    assert any("pricing usage records failed" in r.getMessage() for r in caplog.records)


async def test_locked_database_holds_records_then_writes_them_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "u.db"
    store.connect(db).close()
    holder = lock(db)
    writer = UsageWriter(db)
    await writer.start()
    started = time.perf_counter()
    for i in range(50):
        writer.submit(exchange(i))
    assert time.perf_counter() - started < 0.5  # submit never waits for the database
    await until(lambda: writer.health()["last_error"] is not None and writer.health()["backlog"] == 50)
    assert writer.health()["written"] == 0 and writer.health()["dropped"] == 0
    for i in range(50, 60):  # forwarding goes on while the database is locked
        writer.submit(exchange(i))
    holder.execute("COMMIT")
    holder.close()
    await until(lambda: writer.health()["written"] == 60)
    assert writer.health()["last_error"] is None and writer.health()["backlog"] == 0
    await writer.close()
    assert sorted(r["input_tokens"] for r in rows(db)) == list(range(60))
    # Told once per outage, not once per retry.
    messages = [r.getMessage() for r in caplog.records if r.name == "ccgate.usage"]
    assert sum("not writable" in m for m in messages) == 1
    assert sum("writable again" in m for m in messages) == 1


async def test_backlog_bound_counts_what_it_drops(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    store.connect(db).close()
    holder = lock(db)
    writer = UsageWriter(db, backlog_limit=10)
    await writer.start()
    for i in range(25):
        writer.submit(exchange(i))
    await until(lambda: writer.health()["dropped"] == 15)
    assert "backlog" in writer.health()["last_error"]
    holder.execute("COMMIT")
    holder.close()
    await writer.close()
    health = writer.health()
    assert health["written"] + health["dropped"] == health["submitted"] == 25
    assert sorted(r["input_tokens"] for r in rows(db)) == list(range(15, 25))  # the newest survive


async def test_full_queue_drops_are_counted_not_blocking(tmp_path: Path) -> None:
    writer = UsageWriter(tmp_path / "u.db", queue_size=5)
    for i in range(8):  # not started yet: nothing drains the queue
        writer.submit(exchange(i))
    assert writer.health()["dropped"] == 3 and "queue full" in writer.health()["last_error"]
    await writer.start()
    await writer.close()
    assert writer.health()["written"] == 5


async def test_close_flushes_everything(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    writer = UsageWriter(db)
    await writer.start()
    for i in range(2000):
        writer.submit(exchange(i))
    await writer.close()
    assert len(rows(db)) == 2000 and writer.health()["backlog"] == 0


async def test_database_directory_unusable_at_start_then_fixed(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")
    writer = UsageWriter(blocker / "u.db")
    await writer.start()
    writer.submit(exchange(1))
    await until(lambda: writer.health()["last_error"] is not None)
    assert writer.health()["backlog"] == 1
    blocker.unlink()
    await until(lambda: writer.health()["written"] == 1)
    await writer.close()
    assert len(rows(blocker / "u.db")) == 1


async def test_still_locked_at_shutdown_reports_the_loss(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    store.connect(db).close()
    holder = lock(db)
    writer = UsageWriter(db, flush_timeout=0.5)
    await writer.start()
    for i in range(4):
        writer.submit(exchange(i))
    await writer.close()
    holder.execute("ROLLBACK")
    health = writer.health()
    assert (health["written"], health["dropped"]) == (0, 4)
    assert "4 records lost" in health["last_error"]


async def test_unbuildable_exchange_still_logged(tmp_path: Path) -> None:
    db = tmp_path / "u.db"
    writer = UsageWriter(db)
    await writer.start()
    writer.submit(exchange(1, request_headers=None))  # breaks build_record
    await writer.close()
    assert writer.health()["build_errors"] == 1
    (row,) = rows(db)
    assert (row["status"], row["outcome"], row["endpoint"]) == (200, "ok", "other")


async def test_a_record_is_committed_at_once_without_waiting_for_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing is held back for long to batch: every moment a record waits is a moment kill -9 loses it.
    A record that finds the writer idle is committed at once; commits in a row are COMMIT_GAP_S apart."""
    import ccgate.usage.writer as writer_module

    waits: list[float] = []
    real_sleep = time.sleep
    monkeypatch.setattr(writer_module.time, "sleep", lambda s: (waits.append(s), real_sleep(s)))
    writer = UsageWriter(tmp_path / "u.db")
    await writer.start()
    try:
        for i in range(3):
            writer.submit(exchange(i))
            await until(lambda i=i: writer.health()["written"] == i + 1)
    finally:
        await writer.close()
    assert all(0 < w <= writer_module.COMMIT_GAP_S for w in waits)
    assert writer_module.COMMIT_GAP_S == 0.005
    assert sorted(r["input_tokens"] for r in rows(tmp_path / "u.db")) == [0, 1, 2]


def test_the_writers_connection_holds_a_512_kib_page_cache_and_waits_half_a_second_for_a_lock(tmp_path: Path) -> None:
    """The forwarder's memory: SQLite's default cache is 2000 KiB per connection; the writer's is 512."""
    conn = UsageWriter(tmp_path / "usage.db")._connect()
    try:
        assert conn.execute("PRAGMA cache_size").fetchone()[0] == -512
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 500
    finally:
        conn.close()
