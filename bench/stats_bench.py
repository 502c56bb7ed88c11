"""How fast `ccgate stats`, `stats --by model`, `stats blocks` and `statusline` are on a big usage log.

    python bench/stats_bench.py [--rows 1000000] [--days 90] [--runs 5]

Generates a realistic log in a temp data dir (Claude Code traffic: mostly subscription-billed
Opus/Sonnet/Haiku turns with cache reads and 5m/1h writes, some long-context requests, API-billed
fallbacks, errors, count_tokens calls, rate-limit headers on subscription rows, thousands of
sessions), then times whole `ccgate` processes (min/median/max over --runs after a warm-up).
Targets: each report <= 1 s, the status line <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _timing import print_table, summary, time_command

from ccgate.usage import store
from ccgate.usage.model import UsageRecord

MODELS = [
    ("claude-opus-4-8", 0.45),
    ("claude-sonnet-4-5", 0.25),
    ("claude-sonnet-5", 0.15),
    ("claude-haiku-4-5-20251001", 0.14),
    ("claude-internal-preview", 0.01),
]
PROFILES = [("max", "subscription", 0.8), ("work", "api", 0.15), ("litellm", "unknown", 0.05)]


def ccgate_argv() -> list[str]:
    script = Path(sys.executable).with_name("ccgate")
    return [str(script)] if script.exists() else [sys.executable, "-P", "-m", "ccgate"]


def generate(rows: int, days: int, first: int, count: int, now: float) -> list[tuple]:
    """Rows first..first+count of `rows` spread evenly (in time order) over the last `days` days."""
    rng = random.Random(first)
    start = now - days * 86400
    models, model_w = zip(*[(m, w) for m, w in MODELS], strict=True)
    profiles = [(p, b) for p, b, _ in PROFILES]
    profile_w = [w for _, _, w in PROFILES]
    template = UsageRecord(
        ts=0, profile=None, method="POST", path="/v1/messages", endpoint="messages", status=200, outcome="ok"
    )
    fields = store.RECORD_FIELDS
    base = [getattr(template, f) for f in fields]
    index = {f: i for i, f in enumerate(fields)}
    out = []
    sessions = [f"session-{i:05d}" for i in range(max(rows // 200, 1))]
    for n in range(first, first + count):
        row = list(base)
        ts = start + (now - start) * n / rows + rng.random()
        profile, billing = rng.choices(profiles, profile_w)[0]
        model = rng.choices(models, model_w)[0]
        row[index["ts"]] = ts
        row[index["profile"]] = profile
        row[index["billing"]] = billing
        row[index["model"]] = row[index["request_model"]] = model
        row[index["session_id"]] = sessions[int(n / rows * len(sessions) + rng.randrange(3)) % len(sessions)]
        roll = rng.random()
        if roll < 0.05:
            row[index["endpoint"]] = "count_tokens"
            row[index["path"]] = "/v1/messages/count_tokens"
            row[index["count_tokens_input"]] = rng.randrange(1000, 150_000)
        elif roll < 0.07:
            row[index["status"]] = rng.choice((429, 500, 529))
            row[index["outcome"]] = "ok"
        else:
            long_context = rng.random() < 0.02
            row[index["input_tokens"]] = rng.randrange(1, 400) + (220_000 if long_context else 0)
            row[index["cache_read_tokens"]] = rng.randrange(0, 120_000)
            row[index["cache_write_5m_tokens"]] = rng.randrange(0, 8_000)
            row[index["cache_write_1h_tokens"]] = rng.randrange(0, 4_000) if rng.random() < 0.3 else 0
            row[index["output_tokens"]] = rng.randrange(20, 4_000)
        if billing == "subscription":
            row[index["rl_5h_utilization"]] = round(rng.random(), 3)
            row[index["rl_5h_reset"]] = int(ts // 18000 * 18000 + 18000)
            row[index["rl_7d_utilization"]] = round(rng.random(), 3)
            row[index["rl_7d_reset"]] = int(ts // 604800 * 604800 + 604800)
        out.append(tuple(row))
    return out


def build_db(data_dir: Path, rows: int, days: int) -> float:
    started = time.perf_counter()
    conn = store.connect(data_dir / "usage.db")
    sql = "INSERT INTO requests ({}) VALUES ({})".format(
        ", ".join(store.RECORD_FIELDS), ", ".join("?" for _ in store.RECORD_FIELDS)
    )
    batch = 100_000
    now = time.time()
    for offset in range(0, rows, batch):
        chunk = generate(rows, days, offset, min(batch, rows - offset), now)
        conn.execute("BEGIN")
        conn.executemany(sql, chunk)
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="ccgate-stats-bench-"))
    try:
        env = {
            **os.environ,
            "CCGATE_DATA_DIR": str(root / "data"),
            "CCGATE_CONFIG_DIR": str(root / "config"),
            "CCGATE_STATE_DIR": str(root / "state"),
            "COLUMNS": "160",
            "NO_COLOR": "1",
        }
        (root / "data").mkdir()
        built = build_db(root / "data", args.rows, args.days)
        print(
            f"generated {args.rows:,} rows over {args.days} days in {built:.1f} s "
            f"({(root / 'data' / 'usage.db').stat().st_size / 1e6:.0f} MB)\n"
        )
        ccgate = ccgate_argv()
        stdin = json.dumps({"session_id": "session-04990", "model": {"id": "claude-opus-4-8"}}).encode()
        cases = [
            ("stats (7 days by day)", ["stats"], None, 1.0),
            ("stats --by model", ["stats", "--by", "model"], None, 1.0),
            ("stats blocks", ["stats", "blocks"], None, 1.0),
            ("statusline", ["statusline"], stdin, 0.1),
            (
                f"stats --since {args.days}d --breakdown",
                ["stats", "--since", f"{args.days}d", "--breakdown"],
                None,
                1.0,
            ),
            (
                f"stats --by model --since {args.days}d",
                ["stats", "--by", "model", "--since", f"{args.days}d"],
                None,
                1.0,
            ),
            (
                f"stats --by session --since {args.days}d --json",
                ["stats", "--by", "session", "--since", f"{args.days}d", "--json"],
                None,
                1.0,
            ),
            ("ccgate --version (floor)", ["--version"], None, None),
        ]
        table = []
        for name, argv, data, target in cases:
            check = subprocess.run([*ccgate, *argv], env=env, input=data, capture_output=True)
            if check.returncode != 0:
                raise SystemExit(f"{name}: exit {check.returncode}\n{check.stderr.decode()}")
            low, median, high = summary(time_command([*ccgate, *argv], env, runs=args.runs, stdin=data))
            verdict = "-" if target is None else ("ok" if median <= target else "SLOW")
            target_text = "-" if target is None else f"{target * 1000:.0f}"
            table.append(
                (name, f"{low * 1000:.0f}", f"{median * 1000:.0f}", f"{high * 1000:.0f}", target_text, verdict)
            )
        print_table(("command", "min ms", "median ms", "max ms", "target ms", ""), table)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
