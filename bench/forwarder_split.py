"""Where ccgate's CPU per request goes beyond the bare relay's: its usage-log parts switched off in turn.

    python bench/forwarder_split.py [--requests 2000] [--rounds 3]

Each variant is a `ccgate serve` of this tree started as forwarder_bench.py starts it (sealed
handle, a live-feed subscriber, timed on its second start), with forwarder_bench's three loads.
A variant's parts are switched off by a sitecustomize module this bench writes into a temporary
directory on that process's PYTHONPATH; nothing in ccgate knows about it:

- whole: as a person runs it (usage log, live feed, metrics, budgets);
- no insert: each record is built, priced and handed to the listeners, never written to SQLite;
- no insert, no listeners: nor handed to the live feed, the metrics and the budgets;
- no usage log: the forwarder hands nothing to the usage writer (its taps still read the bodies);
- bare relay: plain_forwarder.py, the floor.

The difference between two adjacent rows is what one part costs: the SQLite insert, the listeners
on the event loop, building the record and handing it over, and the forwarder's own request path
(guards, routing, sealed-handle resolution, the taps). CPU is the process's, all threads, from
its scheduler statistics; read the differences within one run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))
import forwarder_bench as fb  # noqa: E402
from _timing import print_table  # noqa: E402

SWITCHES = """\
import os

_OFF = set(os.environ.get("CCGATE_BENCH_OFF", "").split(","))
if _OFF - {""}:
    from ccgate.usage import store, writer

    if "insert" in _OFF:
        store.insert_records = lambda conn, records: len(list(records))
    if "listeners" in _OFF:
        writer.UsageWriter._notify = lambda self, records: None
    if "log" in _OFF:
        def _submit(self, exchange):
            self.submitted += 1
            self.written += 1

        writer.UsageWriter.submit = _submit
"""
VARIANTS = (
    ("whole", ""),
    ("no insert", "insert"),
    ("no insert, no listeners", "insert,listeners"),
    ("no usage log", "log"),
)
ROWS = (*(name for name, _ in VARIANTS), "bare relay")
PARTS = ("SQLite insert", "listeners on the loop", "record build + hand-over", "forwarder's request path")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per 1-stream run (32 streams: 2x, 500 KB: 1/5)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    site = Path(tempfile.mkdtemp(prefix="ccgate-split-site-"))
    (site / "sitecustomize.py").write_text(SWITCHES)
    scenarios: list[fb.Scenario] = [
        ("1 stream", fb.STREAM_BODY, args.requests, 1),
        ("32 streams", fb.STREAM_BODY, args.requests * 2, 32),
        ("8 x 500 KB bodies", fb.BIG_BODY, max(16, args.requests // 5), 8),
    ]
    upstream, up_port = fb.start_upstream()
    started: list[subprocess.Popen[bytes] | None] = []
    try:
        targets = []
        for name, off in VARIANTS:
            env = {"PYTHONPATH": f"{fb.REPO}{os.pathsep}{site}", "CCGATE_BENCH_OFF": off}
            target, feed = fb.start_ccgate(Path(tempfile.mkdtemp(prefix="ccgate-split-")), up_port, True, fb.REPO, env)
            target.name = name
            started += [target.proc, feed]
            targets.append(target)
        relay = fb.start_relay(up_port)
        started.append(relay.proc)
        targets.append(relay)
        results = fb.run_rounds(targets, scenarios, args.rounds, {})
    finally:
        fb.stop_all(started, upstream)
    cpu = {key: statistics.median(run["cpu_ms"] for run in runs) for key, runs in results.items()}
    print(f"forwarder split: {args.requests} requests per 1-stream run, {args.rounds} rounds (medians), one run")
    print_table(("CPU ms/request", *(label for label, *_ in scenarios)), variant_rows(scenarios, cpu))
    print()
    print_table(("what it costs, ms/request", *(label for label, *_ in scenarios)), part_rows(scenarios, cpu))


def variant_rows(scenarios: list[fb.Scenario], cpu: dict[tuple[str, str], float]) -> list[tuple[str, ...]]:
    return [(name, *(f"{cpu[(label, name)]:.3f}" for label, *_ in scenarios)) for name in ROWS]


def part_rows(scenarios: list[fb.Scenario], cpu: dict[tuple[str, str], float]) -> list[tuple[str, ...]]:
    rows = []
    for part, (upper, lower) in zip(PARTS, itertools.pairwise(ROWS), strict=True):
        rows.append((part, *(f"{cpu[(label, upper)] - cpu[(label, lower)]:+.3f}" for label, *_ in scenarios)))
    rows.append(
        ("ccgate over the relay", *(f"{cpu[(s[0], 'whole')] / cpu[(s[0], 'bare relay')]:.2f}x" for s in scenarios))
    )
    return rows


if __name__ == "__main__":
    main()
