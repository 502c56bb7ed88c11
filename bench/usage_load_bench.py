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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--components-only", action="store_true", help="skip the end-to-end load run")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    if not args.components_only:
        from load_run import run_load  # bench/load_run.py: the end-to-end part

        run_load(args.requests, args.concurrency)
        print()
    print_table(("usage path piece", "rate", "cost"), [*bench_parser(), *bench_record_and_writer()])


if __name__ == "__main__":
    main()
