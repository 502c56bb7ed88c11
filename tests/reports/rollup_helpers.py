"""A copy of a usage log without the hourly sums: reports on it read only the raw rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ccgate.usage.db import open_db
from ccgate.usage.model import UsageRecord


def raw_only_copy(db: Path, dest: Path) -> sqlite3.Connection:
    """`dest`: the same rows as `db`, with the rollup tables and their triggers dropped."""
    source = sqlite3.connect(db)
    copy = sqlite3.connect(dest)
    source.backup(copy)
    source.close()
    for table in ("hourly", "session_hourly"):
        for trigger in ("sum", "unsum", "resum"):
            copy.execute(f"DROP TRIGGER IF EXISTS {table}_{trigger}")
        copy.execute(f"DROP TABLE {table}")
    copy.commit()
    copy.close()
    return open_db(dest)


def insert_into_old_schema(conn: sqlite3.Connection, records: list[UsageRecord]) -> None:
    """Insert into a log of an earlier schema: only the columns it has (as that release wrote them)."""
    present = [row[1] for row in conn.execute("PRAGMA table_info(requests)") if row[1] != "id"]
    marks = ", ".join("?" for _ in present)
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO requests ({', '.join(present)}) VALUES ({marks})",
        [tuple(getattr(r, name) for name in present) for r in records],
    )
    conn.execute("COMMIT")
