"""The forwarder against going direct: time to first byte, latency, throughput, memory.

    python bench/forwarder_bench.py [--requests 400] [--log | --no-log]

Runs the fake Anthropic upstream in its own process, `ccgate serve` in another (a profile whose
base_url is the fake), and an aiohttp load generator here. Each scenario runs direct and through
ccgate with the same requests: 1 stream at a time, 32 concurrent streams, 500 KB request bodies.
Also: start-to-first-served-request time and the forwarder's peak RSS. A bare aiohttp forwarder
(plain_forwarder.py) runs the same load as a yardstick for what any Python forwarder costs here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import print_table  # noqa: E402

from tests.fakes.upstream import free_port, wait_for_health  # noqa: E402

STREAM_BODY = json.dumps(
    {"model": "claude-sonnet-5", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
).encode()
BIG_BODY = json.dumps(
    {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "x" * 500_000}]}
).encode()
HEADERS = {"authorization": "Bearer sk-ant-oat01-bench", "content-type": "application/json", "x-fake-events": "20"}
# --paced: the upstream behaves like a model (thinks before the first byte, streams events over
# time) so ratios show what a person would feel; unpaced, the figures are ccgate's bare CPU cost.
PACED = {"x-fake-think-ms": "50", "x-fake-delay-ms": "2"}


async def one(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as resp:
        first = None
        async for _ in resp.content.iter_any():
            if first is None:
                first = time.perf_counter()
        end = time.perf_counter()
    assert resp.status == 200, resp.status
    return (first or end) - start, end - start


async def load(url: str, body: bytes, requests: int, concurrency: int, headers: dict[str, str]) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        for _ in range(min(20, requests)):  # warm connections
            await one(session, url, body, headers)
        queue = list(range(requests))
        results: list[tuple[float, float]] = []

        async def worker() -> None:
            while queue:
                queue.pop()
                results.append(await one(session, url, body, headers))

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ttfb = sorted(r[0] * 1000 for r in results)
    total = sorted(r[1] * 1000 for r in results)
    return {
        "ttfb_p50": statistics.median(ttfb),
        "ttfb_p99": ttfb[int(len(ttfb) * 0.99) - 1],
        "lat_p50": statistics.median(total),
        "lat_p99": total[int(len(total) * 0.99) - 1],
        "rps": requests / elapsed,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident set
            return int(line.split()[1]) / 1024
    return float("nan")


def start_upstream() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.upstream"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def start_gate(env: dict[str, str], upstream_port: int, log: bool) -> tuple[subprocess.Popen[bytes], int, float]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ccgate",
            "profile",
            "add",
            "max",
            "--kind",
            "max-oauth",
            "--base-url",
            f"http://127.0.0.1:{upstream_port}",
            "--secret-stdin",
            "--insecure-storage",
        ],
        input=b"sk-ant-oat01-bench-secret",
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    argv = [sys.executable, "-m", "ccgate", "serve", "--port", str(port)] + ([] if log else ["--no-log"])
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_health(f"http://127.0.0.1:{port}", proc)
    return proc, port, time.perf_counter() - start


def start_plain(upstream_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    script = Path(__file__).resolve().parent / "plain_forwarder.py"
    proc = subprocess.Popen([sys.executable, str(script), f"http://127.0.0.1:{upstream_port}", str(port)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("plain forwarder did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--log", action=argparse.BooleanOptionalAction, default=True, help="usage log on (default)")
    parser.add_argument("--paced", action="store_true", help="upstream thinks 50 ms and paces events 2 ms apart")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ccgate-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "CCGATE_SECRET_STORE": "file"}
    env.update({f"CCGATE_{d.upper()}_DIR": str(tmp / d) for d in ("config", "data", "state")})
    upstream, up_port = start_upstream()
    gate, gate_port, startup = start_gate(env, up_port, args.log)
    plain, plain_port = start_plain(up_port)
    direct = f"http://127.0.0.1:{up_port}/v1/messages"
    via = f"http://127.0.0.1:{gate_port}/p/max/v1/messages"
    bare = f"http://127.0.0.1:{plain_port}/p/max/v1/messages"
    scenarios = [
        ("1 stream", STREAM_BODY, args.requests, 1),
        ("32 streams", STREAM_BODY, args.requests * 4, 32),
        ("500 KB bodies", BIG_BODY, args.requests // 2, 1),
    ]
    rows = []
    try:
        for label, body, n, conc in scenarios:
            headers = {**HEADERS, **(PACED if args.paced else {})}
            d = asyncio.run(load(direct, body, n, conc, headers))
            p = asyncio.run(load(bare, body, n, conc, headers))
            g = asyncio.run(load(via, body, n, conc, headers))
            rows.append((label, "direct", *_fmt(d), ""))
            rows.append(("", "plain aiohttp", *_fmt(p), _ratios(d, p)))
            rows.append(("", "ccgate", *_fmt(g), _ratios(d, g)))
        peak = rss_mb(gate.pid)
    finally:
        for proc in (gate, plain):
            proc.terminate()
            proc.wait(30)
        upstream.communicate("")
    pace = "paced upstream (50 ms think, 2 ms between events)" if args.paced else "unpaced upstream (bare CPU cost)"
    print(
        f"forwarder bench: {args.requests} requests per 1-stream run, usage log {'on' if args.log else 'off'}, {pace}"
    )
    print_table(
        ("scenario", "path", "ttfb p50 ms", "ttfb p99 ms", "lat p50 ms", "lat p99 ms", "req/s", "ccgate vs direct"),
        rows,
    )
    print(f"start to first served request: {startup * 1000:.0f} ms; ccgate peak RSS: {peak:.1f} MB")


def _fmt(r: dict[str, float]) -> tuple[str, ...]:
    return (*(f"{r[k]:.2f}" for k in ("ttfb_p50", "ttfb_p99", "lat_p50", "lat_p99")), f"{r['rps']:.0f}")


def _ratios(d: dict[str, float], g: dict[str, float]) -> str:
    return (
        f"ttfb +{g['ttfb_p50'] - d['ttfb_p50']:.2f} ms ({g['ttfb_p50'] / d['ttfb_p50']:.2f}x), "
        f"lat p50 {g['lat_p50'] / d['lat_p50']:.2f}x, p99 {g['lat_p99'] / d['lat_p99']:.2f}x, "
        f"rps {g['rps'] / d['rps']:.2f}x"
    )


if __name__ == "__main__":
    main()
