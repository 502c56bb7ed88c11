"""The usage log under load: 10,000 requests at 64 concurrency through a real `ccgate serve` with logging on
must leave exactly 10,000 rows; plus what each piece of the usage path costs on its own.

    python bench/usage_load_bench.py [--requests 10000] [--concurrency 64] [--stream-share 0.5]

Starts the test upstream (tests/fakes/upstream.py) and `ccgate serve` as a subprocess in a temporary
data dir, sends the requests (half streaming, gzip and plain, half JSON), waits for the writer to drain
and counts rows and token sums against what the upstream sent. Then times the SSE parser, build_record
and the writer thread in isolation.
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


def run_load(total: int, concurrency: int) -> list[tuple[str, str]]:
    import sqlite3
    import statistics

    from tests.fakes.upstream import Gate, add_profile, upstream
    from tests.usage.streams import tokens_of

    with tempfile.TemporaryDirectory(prefix="ccgate-usage-bench-") as tmp, upstream() as fake:
        _isolated_env(Path(tmp))
        add_profile("fake", "api-key", secret="sk-ant-api03-bench-profile", base_url=fake.url)
        with Gate() as gate:
            elapsed, latencies, failures = asyncio.run(_drive(gate.profile_url("fake"), total, concurrency))
            drain_start = time.perf_counter()
            health = gate.wait_logged(total, timeout=120)["log"]
            drain = time.perf_counter() - drain_start
            gate.stop()
        conn = sqlite3.connect(Path(tmp) / "data" / "usage.db")
        rows, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM requests").fetchone()
        logged = conn.execute(
            "SELECT SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), "
            "SUM(cache_write_5m_tokens + cache_write_1h_tokens + cache_write_other_tokens) FROM requests"
        ).fetchone()
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        conn.close()
        sent = [tokens_of(u) for u in fake.answered]
        expected = (
            sum(t["input_tokens"] for t in sent),
            sum(t["output_tokens"] for t in sent),
            sum(t["cache_read_tokens"] for t in sent),
            sum(t["cache_write_5m_tokens"] + t["cache_write_1h_tokens"] + t["cache_write_other_tokens"] for t in sent),
        )
    latencies.sort()
    ok = rows == distinct == total and tuple(logged) == expected and failures == 0 and health["dropped"] == 0
    return [
        ("requests sent (half streaming, a quarter gzip)", f"{total:,} at concurrency {concurrency}"),
        ("non-200 answers", str(failures)),
        ("wall time", f"{elapsed:.2f} s"),
        ("throughput", f"{total / elapsed:,.0f} req/s"),
        (
            "latency p50 / p99",
            f"{statistics.median(latencies) * 1000:.1f} / {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms",
        ),
        ("log drained after last response", f"{drain:.2f} s"),
        ("rows in requests / distinct request-ids", f"{rows:,} / {distinct:,}"),
        ("token sums (in, out, cache read, cache write) logged", ", ".join(f"{v:,}" for v in logged)),
        ("token sums the upstream reported", ", ".join(f"{v:,}" for v in expected)),
        ("dropped (health) / integrity_check", f"{health['dropped']} / {integrity}"),
        ("verdict", "OK: every request logged once, sums exact" if ok else "FAIL"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--components-only", action="store_true", help="skip the end-to-end load run")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    if not args.components_only:
        rows = run_load(args.requests, args.concurrency)
        print_table(("end to end, logging on", "value"), rows)
        print()
    print_table(("usage path piece", "rate", "cost"), [*bench_parser(), *bench_record_and_writer()])


if __name__ == "__main__":
    main()
