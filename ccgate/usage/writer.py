"""UsageWriter: the forwarder's sink that turns exchanges into rows without slowing it down.

The event loop only puts each Exchange on a bounded queue (`submit` never blocks). One
writer thread takes whatever is queued (up to a batch), builds the records (JSON parsing stays
off the loop), inserts the batch in one transaction, prices each record once (`pricing`) and
hands records and prices to the listeners on the loop (dashboard live feed, Prometheus,
budgets). When the database cannot be written (locked, read-only, disk full) the records wait
in memory, up to `backlog_limit`, and are retried with backoff; anything that has to be given
up is counted in `dropped` and logged, so `/ccgate/health` tells the truth. `close()` flushes.

The writer does not wait for records to gather: a record that finds the writer idle is
committed at once. Only when commits follow each other within COMMIT_GAP_S (under load) does it
let that much time pass since the last one, so that a transaction carries a few records (one
row per transaction costs ~4x the CPU of 16). A `kill -9` therefore loses at most the requests
that finished during the last few milliseconds and the commit under way (README: the window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

from ccgate import paths
from ccgate.usage import store
from ccgate.usage.model import Exchange, UsageRecord
from ccgate.usage.record import build_record, loggable_path
from ccgate.usage.sink import Listener, Pricing

log = logging.getLogger("ccgate.usage")

_STOP = object()
RETRY_MIN_S = 0.05
RETRY_MAX_S = 1.0
# A locked database fails the insert after this long instead of SQLite's default wait, so the
# writer thread goes back to draining the queue and the records wait in memory.
WRITER_BUSY_TIMEOUT_MS = 500
# The writer's page cache, in KiB (SQLite's default is 2000). An insert touches the last pages of a
# dozen B-trees, a working set far under this; a larger cache only holds the forwarder's memory
# (measured on 20,000 rows: the same CPU per row at 256, 512 and 2000 KiB).
WRITER_CACHE_KIB = 512
# Under load, commits are at least this far apart (a lone record never waits).
COMMIT_GAP_S = 0.005
# Records whose listeners run in one event-loop step before the loop polls its sockets again.
DISPATCH_CHUNK = 4


class _Full(Exception):
    pass


class _Empty(Exception):
    pass


class _Inbox:
    """A bounded hand-over from the event loop to the writer thread that wakes the thread only when
    it sleeps: queue.Queue takes a lock and notifies a condition on every put, which under load is
    a GIL hand-off per request for a thread that is busy anyway."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[object] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition(threading.Lock())
        self._sleeping = False

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: object) -> None:
        if len(self._items) >= self._maxsize:
            raise _Full
        self.put_always(item)

    def put_always(self, item: object) -> None:
        self._items.append(item)  # first the item, then the look at the flag: see get()
        if self._sleeping:
            with self._cond:
                self._cond.notify()

    def get_nowait(self) -> object:
        try:
            return self._items.popleft()
        except IndexError:
            raise _Empty from None

    def get(self, timeout: float | None) -> object:
        if self._items:
            return self._items.popleft()
        with self._cond:
            # The flag goes up before the last look: a put either sees it (and notifies, which waits for
            # this wait to start, as it needs the lock) or appended before that look (and is seen).
            self._sleeping = True
            try:
                if not self._items:
                    self._cond.wait(timeout)
            finally:
                self._sleeping = False
        return self.get_nowait()


class UsageWriter:
    def __init__(
        self,
        db_path: Path | None = None,
        *,
        queue_size: int = 4096,
        backlog_limit: int = 50_000,
        batch_size: int = 500,
        flush_timeout: float = 10.0,
        pricing: Pricing | None = None,
    ) -> None:
        self.db_path = Path(db_path) if db_path is not None else paths.usage_db()
        self._queue = _Inbox(queue_size)
        self._backlog_limit = backlog_limit
        self._batch_size = batch_size
        self._flush_timeout = flush_timeout
        self._committed_at = 0.0
        self._listeners: list[Listener] = []
        self._pricing = pricing
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending: deque[UsageRecord] = deque()
        # Counters: each written by one thread only (queue_dropped by the loop, the rest by the writer).
        self.submitted = 0
        self.written = 0
        self._queue_dropped = 0
        self._backlog_dropped = 0
        self._build_errors = 0
        self.last_error: str | None = None
        self._failing = False  # the last write attempt failed
        self._last_error_at: float | None = None

    # --- Sink protocol, on the event loop -------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="ccgate-usage-writer", daemon=True)
        self._thread.start()

    def submit(self, exchange: Exchange) -> None:
        self.submitted += 1
        try:
            self._queue.put_nowait(exchange)
        except _Full:
            self._queue_dropped += 1
            self._set_error("usage queue full: the writer cannot keep up")

    def health(self) -> dict[str, Any]:
        return {
            "enabled": True,
            "db_path": str(self.db_path),
            "submitted": self.submitted,
            "written": self.written,
            "backlog": self._queue.qsize() + len(self._pending),
            "dropped": self._queue_dropped + self._backlog_dropped,
            "build_errors": self._build_errors,
            "last_error": self.last_error,
            "last_error_at": self._last_error_at,
        }

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop = asyncio.get_running_loop()
        self._queue.put_always(_STOP)  # past the bound: the stop marker must not be lost
        await loop.run_in_executor(None, thread.join)

    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    # --- writer thread ---------------------------------------------------------------------

    def _set_error(self, message: str) -> None:
        self.last_error = message
        self._last_error_at = time.time()

    def _take(self, timeout: float | None) -> list[object]:
        """Wait up to `timeout` for one item, then take what else is queued, up to a batch."""
        try:
            items = [self._queue.get(timeout=timeout)]
        except _Empty:
            return []
        since = time.monotonic() - self._committed_at
        if since < COMMIT_GAP_S:
            time.sleep(COMMIT_GAP_S - since)
        while len(items) < self._batch_size:
            try:
                items.append(self._queue.get_nowait())
            except _Empty:
                break
        return items

    def _build(self, exchange: Exchange) -> UsageRecord:
        try:
            return build_record(exchange)
        except Exception as exc:  # a record with what is known beats a lost request
            self._build_errors += 1
            self._set_error(f"could not read usage from a response: {type(exc).__name__}")
            log.exception("building a usage record failed")
            return UsageRecord(
                ts=exchange.started_at,
                profile=exchange.profile,
                method=exchange.method,
                path=loggable_path(exchange.path),
                endpoint="other",
                status=exchange.status,
                outcome=exchange.outcome,
                duration_ms=exchange.duration_ms,
                credential_kind=exchange.credential_kind,
                credential_fp=exchange.credential_fp,
            )

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        retry_at = 0.0
        delay = RETRY_MIN_S
        stopping = False
        stop_deadline = 0.0
        while True:
            now = time.monotonic()
            if stopping:
                timeout = 0.0 if self._queue.qsize() else None
            elif self._pending:
                timeout = max(0.0, retry_at - now)
            else:
                timeout = 0.5
            items = self._take(timeout) if not (stopping and not self._queue.qsize()) else []
            records = []
            for item in items:
                if item is _STOP:
                    stopping = True
                    stop_deadline = time.monotonic() + self._flush_timeout
                    continue
                records.append(self._build(item))  # type: ignore[arg-type]
            if records:
                self._pending.extend(records)
                self._enforce_backlog_limit()
            committed = 0
            if self._pending and time.monotonic() >= retry_at:
                conn, committed = self._write_pending(conn)
                if not self._failing:
                    delay = RETRY_MIN_S
                else:
                    retry_at = time.monotonic() + delay
                    delay = min(delay * 2, RETRY_MAX_S)
            # Priced after their commit, so a price-data import (once, for a model never seen) never
            # holds up a write; handed over before `written` counts them, so a request the log says
            # is written is in the feed, the metrics and the budgets too.
            if records:
                self._notify(records)
            self.written += committed
            if stopping and not self._queue.qsize():
                if not self._pending:
                    break
                if time.monotonic() >= stop_deadline:
                    self._give_up_on_pending()
                    break
                time.sleep(max(0.0, min(retry_at, stop_deadline) - time.monotonic()))
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = store.connect(self.db_path)
        conn.execute(f"PRAGMA busy_timeout = {WRITER_BUSY_TIMEOUT_MS}")
        conn.execute(f"PRAGMA cache_size = -{WRITER_CACHE_KIB}")
        return conn

    def _write_pending(self, conn: sqlite3.Connection | None) -> tuple[sqlite3.Connection | None, int]:
        """Insert pending records batch by batch; on failure keep the rest for a retry. Returns how
        many were committed (`_failing` tells whether all were)."""
        committed = 0
        try:
            if conn is None:
                conn = self._connect()
            while self._pending:
                batch = [self._pending[i] for i in range(min(self._batch_size, len(self._pending)))]
                store.insert_records(conn, batch)
                self._recovered()  # before the counters move, so health never shows new rows with an old error
                for _ in batch:
                    self._pending.popleft()
                committed += len(batch)
            self._committed_at = time.monotonic()
            return conn, committed
        except (sqlite3.Error, OSError) as exc:
            self._set_error(f"usage database {self.db_path} not writable: {exc}; {len(self._pending)} waiting")
            if not self._failing:  # once per outage, not once per retry
                self._failing = True
                log.warning("%s (retrying; see /ccgate/health)", self.last_error)
            if conn is not None and not isinstance(exc, sqlite3.OperationalError):
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
                conn = None
            return conn, committed

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("usage database %s writable again; the waiting records are written", self.db_path)
        if self.last_error and self.last_error.startswith("usage database"):
            self.last_error = None

    def _enforce_backlog_limit(self) -> None:
        excess = len(self._pending) - self._backlog_limit
        if excess > 0:
            for _ in range(excess):
                self._pending.popleft()
            self._backlog_dropped += excess
            self._set_error(f"usage backlog over {self._backlog_limit}: dropped the {excess} oldest records")
            log.error("%s", self.last_error)

    def _give_up_on_pending(self) -> None:
        lost = len(self._pending)
        self._pending.clear()
        self._backlog_dropped += lost
        self._set_error(f"usage database {self.db_path} still not writable at shutdown: {lost} records lost")
        log.error("%s", self.last_error)

    # --- listeners, on the event loop ------------------------------------------------------

    def _notify(self, records: list[UsageRecord]) -> None:
        if not self._listeners or self._loop is None:
            return
        costs = self._price(records)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self._loop.call_soon_threadsafe(self._dispatch, records, costs)

    def _price(self, records: list[UsageRecord]) -> list[Decimal | None]:
        if self._pricing is None:
            return [None] * len(records)
        try:
            return self._pricing(records)
        except Exception:  # the record is written; a listener is better told "no price" than nothing
            log.exception("pricing usage records failed")
            return [None] * len(records)

    def _dispatch(self, records: list[UsageRecord], costs: list[Decimal | None], start: int = 0) -> None:
        """Run the listeners for a few records, then yield to the loop and continue: a whole batch's
        listener work at once would hold up every request in flight for that long."""
        end = min(start + DISPATCH_CHUNK, len(records))
        for record, cost in zip(records[start:end], costs[start:end], strict=True):
            for callback in list(self._listeners):
                try:
                    callback(record, cost)
                except Exception:
                    log.exception("usage listener failed")
        if end < len(records) and self._loop is not None:
            self._loop.call_soon(self._dispatch, records, costs, end)
