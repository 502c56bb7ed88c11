"""While `ccgate serve` runs, Claude Code's transcripts keep flowing into the usage log.

A thread of its own scans the transcript directories every POLL_S seconds (an unchanged file
costs one stat) and writes what is new through its own connection, so responses that bypassed the
forwarder reach `stats`, the status line and the dashboard within seconds, and the forwarder's own
rows gain their project. It never touches the event loop; a failing pass is reported in health
and retried on the next.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ccgate.errors import CcgateError
from ccgate.usage import ledger
from ccgate.usage.roots import Root

log = logging.getLogger("ccgate.usage")
POLL_S = 2.0


class TranscriptFollower:
    def __init__(self, db_path: Path, roots: Callable[[], Iterable[Root]], poll_s: float = POLL_S) -> None:
        self.db_path = db_path
        self.roots = roots
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.passes = 0
        self.added = 0
        self.last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ccgate-transcripts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def health(self) -> dict[str, Any]:
        return {"passes": self.passes, "added": self.added, "last_error": self.last_error}

    def run_once(self, conn: sqlite3.Connection) -> ledger.ImportSummary:
        summary = ledger.import_transcripts(conn, self.roots())
        self.passes += 1
        self.added += summary.added
        self.last_error = summary.unreadable[0] if summary.unreadable else None
        return summary

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = ledger.open_writer(self.db_path)
                self.run_once(conn)
            except (sqlite3.Error, OSError, CcgateError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                if message != self.last_error:
                    log.warning("importing transcripts failed: %s (retrying)", message)
                self.last_error = message
            self._stop.wait(self.poll_s)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
