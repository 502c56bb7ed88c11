"""What one usage-log row costs the forwarder's writer thread, by rows per commit and by schema part.

    python bench/insert_bench.py [--rows 8000]

Inserts --rows records of stats_bench.py's generator, each with a request and a message id as the
forwarder's records have, into a fresh log with store.insert_records (the writer's own call),
committing every N rows as the writer does under growing load (at one stream at a time it commits
one or two rows; under load COMMIT_GAP_S gathers more). Then the same at 16 rows per commit with
the hourly rollup triggers dropped, and with every secondary index dropped too, which splits the
row's cost into base insert, indexes and rollups. CPU is this process's (time.process_time), so
the figures hold on a shared machine better than wall time.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _timing import print_table
from stats_bench import generate

from ccgate.usage import store
from ccgate.usage.model import UsageRecord


def cpu_per_row(records: list[UsageRecord], per_commit: int, prepare: Callable[[sqlite3.Connection], None]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(Path(tmp) / "usage.db")
        prepare(conn)
        start = time.process_time()
        for i in range(0, len(records), per_commit):
            store.insert_records(conn, records[i : i + per_commit])
        used = time.process_time() - start
        conn.close()
    return used / len(records) * 1e6


def sqlite_memory_mib() -> float | None:
    """SQLite's own heap in use, where the sqlite3 module links the system library (else None: a
    statically linked module's SQLite is another copy, which this would read as 0)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    lib.sqlite3_memory_used.restype = ctypes.c_int64
    used: int = lib.sqlite3_memory_used()
    return used / 2**20 if used else None


def every_size_in_turn(records: list[UsageRecord]) -> tuple[float, float | None]:
    """CPU per row, and SQLite's memory at the end, committing 1, 2, ... 64 rows in turn (the
    writer's batches vary with load): each batch size the connection prepares stays cached."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(Path(tmp) / "usage.db")
        start, i, size = time.process_time(), 0, 1
        while i < len(records):
            store.insert_records(conn, records[i : i + size])
            i, size = i + size, size % 64 + 1
        used = time.process_time() - start
        memory = sqlite_memory_mib()
        conn.close()
    return used / len(records) * 1e6, memory


def drop_rollups(conn: sqlite3.Connection) -> None:
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f"DROP TRIGGER {name}")


def drop_rollups_and_indexes(conn: sqlite3.Connection) -> None:
    drop_rollups(conn)
    for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests' AND sql IS NOT NULL"
    ).fetchall():
        conn.execute(f"DROP INDEX {name}")


def keep_all(conn: sqlite3.Connection) -> None:
    pass


def as_forwarded(i: int, fields: dict[str, object]) -> UsageRecord:
    """A generated row as the forwarder writes it: with the upstream's request id and the message id,
    which the writer looks up among the transcript-only rows before inserting (store.insert_records)."""
    return UsageRecord(**{**fields, "request_id": f"req_bench{i:08d}", "message_id": f"msg_bench{i:08d}"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    args = parser.parse_args()
    rows = generate(args.rows, 1, 0, args.rows, time.time())
    records = [as_forwarded(i, dict(zip(store.RECORD_FIELDS, row, strict=True))) for i, row in enumerate(rows)]
    table = [(f"{n} per commit, whole schema", f"{cpu_per_row(records, n, keep_all):.1f}") for n in (1, 2, 4, 16, 64)]
    table.append(("16 per commit, no rollup triggers", f"{cpu_per_row(records, 16, drop_rollups):.1f}"))
    table.append(
        ("16 per commit, no rollups, no secondary indexes", f"{cpu_per_row(records, 16, drop_rollups_and_indexes):.1f}")
    )
    cpu, memory = every_size_in_turn(records)
    held = "" if memory is None else f" (SQLite then holds {memory:.1f} MiB)"
    table.append((f"1, 2, ... 64 per commit in turn, whole schema{held}", f"{cpu:.1f}"))
    print(f"usage-log inserts: {args.rows:,} records of bench/stats_bench.py's generator, store.insert_records\n")
    print_table(("rows per commit / schema", "CPU us per row"), table)


if __name__ == "__main__":
    main()
