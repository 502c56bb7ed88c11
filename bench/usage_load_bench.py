"""The usage log under load: 10,000 requests at 64 concurrency through a real `ccgate serve` with logging on
must leave exactly 10,000 rows; plus what each piece of the usage path costs on its own.

    python bench/usage_load_bench.py [--requests 10000] [--concurrency 64]
    python bench/usage_load_bench.py --components-only --compare-runs 3 [--compare-requests 1000] [--compare-paced]

Starts the test upstream (tests/fakes/upstream.py) and `ccgate serve` as a subprocess in a temporary
data dir, sends the requests (half streaming, a quarter gzip, the rest JSON, each with its own usage),
waits for the writer to drain and checks rows, request-ids and token sums against what the upstream
sent; then the same load through `ccgate serve --no-log` for throughput, latency and the server's CPU
time per request. Then times the SSE parser, build_record and the writer thread in isolation.
`--compare-runs N` runs bench/forwarder_bench.py N times with --log and N times with --no-log,
alternating, and prints the medians side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import print_table  # noqa: E402

from ccgate.usage.model import Exchange  # noqa: E402
from ccgate.usage.record import build_record  # noqa: E402
from ccgate.usage.sse import StreamUsage  # noqa: E402
from ccgate.usage.writer import UsageWriter  # noqa: E402
from tests.usage.streams import CASES, render  # noqa: E402


def bench_parser() -> list[tuple[str, str, str]]:
    data = b"".join(render(c.events) for c in CASES) * 50
    rows = []
    for label, encoding, wire in (("plain", None, data), ("gzip", "gzip", gzip.compress(data))):
        chunks = [wire[i : i + 1400] for i in range(0, len(wire), 1400)]
        runs = 10
        start = time.perf_counter()
        for _ in range(runs):
            parser = StreamUsage(encoding)
            for chunk in chunks:
                parser.feed(chunk)
        elapsed = (time.perf_counter() - start) / runs
        rows.append(
            (
                f"SSE parser, {label}, 1400-byte chunks",
                f"{len(data) / elapsed / 1e6:.0f} MB/s",
                f"{elapsed / len(data) * 1024 * 1e6:.1f} µs/KiB decoded",
            )
        )
    return rows


def sample_exchange(i: int) -> Exchange:
    body = b'{"model":"claude-sonnet-5-5","max_tokens":100,"stream":false,"messages":[{"role":"user","content":"hi"}]}'
    return Exchange(
        started_at=time.time(),
        profile="bench",
        method="POST",
        path="/v1/messages?beta=true",
        status=200,
        outcome="ok",
        ttfb_ms=1.0,
        duration_ms=2.0,
        request_bytes=len(body),
        response_bytes=300,
        credential_kind="oauth",
        credential_fp="0123abcd",
        request_headers={"user-agent": "claude-cli/2.1.330", "x-claude-code-session-id": f"s{i % 10}"},
        response_headers={"request-id": f"req_{i}", "anthropic-ratelimit-unified-status": "allowed"},
        request_body=body,
        response_body=b'{"id":"msg","model":"claude-sonnet-5-5","usage":{"input_tokens":3,"output_tokens":5}}',
    )


def bench_record_and_writer(n: int = 20000) -> list[tuple[str, str, str]]:
    ex = sample_exchange(0)
    start = time.perf_counter()
    for _ in range(n):
        build_record(ex)
    per_record = (time.perf_counter() - start) / n

    async def write_all(db: Path) -> float:
        writer = UsageWriter(db, queue_size=n + 1)
        await writer.start()
        start = time.perf_counter()
        for i in range(n):
            writer.submit(sample_exchange(i))
        submitted = time.perf_counter() - start
        await writer.close()
        total = time.perf_counter() - start
        assert writer.health()["written"] == n, writer.health()
        return submitted, total

    with tempfile.TemporaryDirectory() as tmp:
        submit_s, total_s = asyncio.run(write_all(Path(tmp) / "u.db"))
    return [
        ("build_record (JSON response)", f"{1 / per_record:,.0f} /s", f"{per_record * 1e6:.1f} µs/record"),
        ("UsageWriter.submit on the loop", f"{n / submit_s:,.0f} /s", f"{submit_s / n * 1e6:.2f} µs/call"),
        (f"UsageWriter: {n} records built + written", f"{n / total_s:,.0f} /s", f"{total_s:.2f} s total"),
    ]


# --- end to end: fake upstream <- ccgate serve (subprocess) <- 64 concurrent clients -------------------------


def _isolated_env(root: Path) -> None:
    for name in ("config", "data", "state"):
        os.environ[f"CCGATE_{name.upper()}_DIR"] = str(root / name)
    os.environ["CCGATE_SECRET_STORE"] = "file"  # no keyring prompt in a benchmark
    os.environ["PYTHONPATH"] = str(REPO)


def _usage(i: int) -> dict[str, object]:
    return {
        "input_tokens": 10 + i % 97,
        "cache_creation_input_tokens": 300 + i % 13,
        "cache_read_input_tokens": 4000 + i,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        "output_tokens": 50 + i % 31,
    }


async def _drive(url: str, total: int, concurrency: int) -> tuple[float, list[float], int]:
    import aiohttp

    body = json.dumps(
        {"model": "claude-sonnet-5-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    )
    latencies: list[float] = []
    failures = 0
    next_index = iter(range(total))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for i in next_index:
            stream = i % 2 == 0
            headers = {
                "x-api-key": "sk-ant-api03-bench",
                "content-type": "application/json",
                "x-fake-usage": json.dumps(_usage(i)),
                "accept-encoding": "gzip",
            }
            if i % 4 == 0:
                headers["x-fake-gzip"] = "1"
            data = body[:-1] + (', "stream": true}' if stream else "}")
            start = time.perf_counter()
            async with session.post(f"{url}/v1/messages?beta=true", data=data, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    failures += 1
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.perf_counter() - start, latencies, failures


WARMUP = 50


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve_and_drive(gate_args: tuple[str, ...], total: int, concurrency: int) -> dict[str, Any]:
    from tests.fakes.upstream import Gate

    with Gate(*gate_args) as gate:
        assert gate.proc is not None
        # Warm up: connections, and whatever the first logged record loads once (the dashboard's
        # listener reads genai-prices' rate cards on the first record, a few hundred ms).
        asyncio.run(_drive(gate.profile_url("fake"), WARMUP, min(concurrency, WARMUP)))
        if not gate_args:
            gate.wait_logged(WARMUP, timeout=60)
        cpu_before = _cpu_s(gate.proc.pid)
        elapsed, latencies, failures = asyncio.run(_drive(gate.profile_url("fake"), total, concurrency))
        drain_start = time.perf_counter()
        health = gate.wait_logged(WARMUP + total, timeout=120)["log"] if not gate_args else gate.health()["log"]
        drain = time.perf_counter() - drain_start
        cpu = _cpu_s(gate.proc.pid) - cpu_before
        gate.stop()
    latencies.sort()
    return {
        "elapsed": elapsed,
        "latencies": latencies,
        "failures": failures,
        "health": health,
        "drain": drain,
        "cpu": cpu,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def run_load(total: int, concurrency: int) -> list[tuple[str, str]]:
    import sqlite3

    from tests.fakes.upstream import add_profile, upstream
    from tests.usage.streams import tokens_of

    with tempfile.TemporaryDirectory(prefix="ccgate-usage-bench-") as tmp, upstream() as fake:
        _isolated_env(Path(tmp))
        add_profile("fake", "api-key", secret="sk-ant-api03-bench-profile", base_url=fake.url)
        on = _serve_and_drive((), total, concurrency)
        sent = [tokens_of(u) for u in fake.answered]
        off = _serve_and_drive(("--no-log",), total, concurrency)
        conn = sqlite3.connect(Path(tmp) / "data" / "usage.db")
        rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM requests").fetchone()
        rows, distinct = rows - WARMUP, distinct - WARMUP  # the warm-up requests are logged too (and summed)
        logged = conn.execute(
            "SELECT SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
            "SUM(cache_write_5m_tokens + cache_write_1h_tokens + cache_write_other_tokens) FROM requests"
        ).fetchone()
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        expected = (
            sum(t["input_tokens"] for t in sent),
            sum(t["output_tokens"] for t in sent),
            sum(t["cache_read_tokens"] for t in sent),
            sum(t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"] + t["cache_write_other_tokens"] for t in sent),
        )
    health = on["health"]
    ok = rows == distinct == total and tuple(logged) == expected and on["failures"] == 0 and health["dropped"] == 0

    def vs(key: str, fmt: str) -> str:
        return f"{fmt.format(on[key])} vs {fmt.format(off[key])} ({(on[key] - off[key]) / off[key] * 100:+.1f}%)"

    return [
        ("requests sent (half streaming, a quarter gzip)", f"{total:,} at concurrency {concurrency}"),
        ("non-200 answers (log on / off)", f"{on['failures']} / {off['failures']}"),
        (f"rows / distinct request-ids, besides {WARMUP} warm-up rows", f"{rows:,} / {distinct:,}"),
        ("token sums (in, out, cache read, cache write) logged", ", ".join(f"{v:,}" for v in logged)),
        ("token sums the upstream reported", ", ".join(f"{v:,}" for v in expected)),
        ("dropped (health) / integrity_check", f"{health['dropped']} / {integrity}"),
        ("log drained after last response", f"{on['drain']:.2f} s"),
        ("verdict", "OK: every request logged once, sums exact" if ok else "FAIL"),
        (
            "throughput, log on vs --no-log",
            f"{total / on['elapsed']:,.0f} vs {total / off['elapsed']:,.0f} req/s "
            f"({(off['elapsed'] - on['elapsed']) / on['elapsed'] * 100:+.1f}%)",
        ),
        ("latency p50, log on vs --no-log", vs("p50", "{:.1f} ms")),
        ("latency p99, log on vs --no-log", vs("p99", "{:.1f} ms")),
        (
            "ccgate serve CPU per request, on vs off",
            f"{on['cpu'] / total * 1e6:.0f} vs {off['cpu'] / total * 1e6:.0f} µs "
            f"({(on['cpu'] - off['cpu']) / off['cpu'] * 100:+.1f}%)",
        ),
    ]


# --- logging on vs off: the forwarder helper's bench, alternated -------------------------------------------


def _forwarder_run(log: bool, requests: int, paced: bool) -> dict[str, dict[str, float]]:
    """One run of bench/forwarder_bench.py; the ccgate rows by scenario."""
    import re
    import subprocess

    argv = [sys.executable, str(REPO / "bench" / "forwarder_bench.py"), "--requests", str(requests)]
    argv += ["--log" if log else "--no-log"] + (["--paced"] if paced else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rows: dict[str, dict[str, float]] = {}
    scenario = ""
    for line in out.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 7 and cells[1] == "direct":
            scenario = cells[0]
        elif len(cells) >= 6 and cells[0] == "ccgate":
            keys = ("ttfb_p50", "ttfb_p99", "lat_p50", "lat_p99", "rps")
            rows[scenario] = dict(zip(keys, map(float, cells[1:6]), strict=True))
    return rows


def compare_logging(runs: int, requests: int, paced: bool) -> list[tuple[str, ...]]:
    import statistics

    results: dict[bool, list[dict[str, dict[str, float]]]] = {True: [], False: []}
    for i in range(runs):  # alternate, so that drifting machine load hits both sides alike
        for log in (True, False) if i % 2 == 0 else (False, True):
            results[log].append(_forwarder_run(log, requests, paced))
    table = []
    for scenario in results[True][0]:
        for key, label in (("rps", "req/s"), ("lat_p50", "lat p50 ms"), ("lat_p99", "lat p99 ms")):
            on = statistics.median(r[scenario][key] for r in results[True])
            off = statistics.median(r[scenario][key] for r in results[False])
            table.append((scenario, label, f"{off:.2f}", f"{on:.2f}", f"{(on - off) / off * 100:+.1f}%"))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--components-only", action="store_true", help="skip the end-to-end load run")
    parser.add_argument(
        "--compare-runs",
        type=int,
        default=0,
        metavar="N",
        help="also run bench/forwarder_bench.py N times with --log and N times with --no-log",
    )
    parser.add_argument("--compare-requests", type=int, default=1000)
    parser.add_argument("--compare-paced", action="store_true", help="pass --paced to the forwarder bench")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    if not args.components_only:
        rows = run_load(args.requests, args.concurrency)
        print_table(("end to end through ccgate serve", "value"), rows)
        print()
    print_table(("usage path piece", "rate", "cost"), [*bench_parser(), *bench_record_and_writer()])
    if args.compare_runs:
        print()
        paced = " --paced" if args.compare_paced else ""
        runs = f"medians of {args.compare_runs} alternating runs each"
        print(f"bench/forwarder_bench.py --requests {args.compare_requests}{paced}, {runs}")
        print_table(
            ("scenario", "figure", "--no-log", "--log", "log vs no-log"),
            compare_logging(args.compare_runs, args.compare_requests, args.compare_paced),
        )


if __name__ == "__main__":
    main()
