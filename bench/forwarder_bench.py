"""The forwarder against going direct and against the floor (a bare aiohttp relay on uvloop).

    python bench/forwarder_bench.py [--requests 400] [--rounds 3] [--paced] [--log | --no-log]

Runs the fake Anthropic upstream in its own process, the bare relay (plain_forwarder.py) and
`ccgate serve` each in another, and an aiohttp load generator here. ccgate runs as a person uses
it: usage log on, a sealed handle resolved on every request, a dashboard subscribed to the live
feed, Prometheus metrics counting, started a second time (the first start fills the price cache,
as a person's first day does; its figures are printed too). Each round runs every scenario direct, through the relay and
through ccgate with the same requests (the order rotates per round): 1 stream at a time,
32 concurrent streams, 8 concurrent 500 KB request bodies. Figures are medians over the rounds.

Gateway CPU per request is the process's on-CPU time over the timed part of a run (all its
threads, from /proc/PID/task/*/schedstat; for ccgate up to the moment its usage log has written
every record), divided by the requests. Also: each gateway's peak RSS and the time from spawning
it to its first forwarded request. The machine is shared: read ratios from one run, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))
from _timing import print_table  # noqa: E402

from tests.fakes.upstream import free_port  # noqa: E402

STREAM_BODY = json.dumps(
    {"model": "claude-sonnet-5", "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
).encode()
BIG_BODY = json.dumps(
    {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "x" * 500_000}]}
).encode()
SMALL_BODY = json.dumps({"model": "claude-sonnet-5", "max_tokens": 1, "messages": []}).encode()
HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,oauth-2025-04-20",
    "user-agent": "claude-cli/2.1.330 (external, cli)",
    "x-app": "cli",
    "x-claude-code-session-id": "5d1b0c9e-1111-4222-8333-444455556666",
    "x-fake-events": "20",
}
DIRECT_AUTH = "Bearer sk-ant-oat01-bench"
# --paced: the upstream behaves like a model (thinks before the first byte, streams events over
# time) so ratios show what a person would feel; unpaced, the figures are the forwarders' bare CPU cost.
PACED = {"x-fake-think-ms": "50", "x-fake-delay-ms": "2"}
COLUMNS = ("ttfb p50 ms", "ttfb p99 ms", "lat p50 ms", "lat p99 ms", "req/s")
GOALS = "goals (issue 19): CPU <= 1.15x relay; TTFB and latency within the margins; RSS <= 50 MiB; spawn <= 0.5 s"


@dataclass
class Target:
    name: str
    url: str  # up to the API path: .../v1/messages is appended
    auth: str
    proc: subprocess.Popen[bytes] | None = None
    health_url: str | None = None  # ccgate: wait for the usage log to drain before reading CPU
    spawn_s: float | None = None


# --- measuring -----------------------------------------------------------------------------------


def cpu_ns(pid: int) -> int:
    """On-CPU nanoseconds of every thread of `pid` (scheduler statistics, finer than utime+stime ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between listing and reading
    return total


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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


async def settle(session: aiohttp.ClientSession, health_url: str) -> None:
    """Until ccgate's usage log has written every record it was handed (its CPU for them counted)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        async with session.get(health_url) as resp:
            log = (await resp.json())["log"]
        if not log.get("enabled") or (log["written"] + log["dropped"] >= log["submitted"] and not log["backlog"]):
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("usage log did not drain")


async def load(target: Target, body: bytes, requests: int, concurrency: int, extra: dict[str, str]) -> dict[str, float]:
    url = target.url + "/v1/messages"
    headers = {**HEADERS, **extra, "authorization": target.auth}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        for _ in range(min(20, requests)):  # warm connections
            await one(session, url, body, headers)
        if target.health_url:
            await settle(session, target.health_url)
        remaining = requests
        results: list[tuple[float, float]] = []

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                results.append(await one(session, url, body, headers))

        cpu_before = cpu_ns(target.proc.pid) if target.proc else 0
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
        if target.health_url:
            await settle(session, target.health_url)
        cpu = (cpu_ns(target.proc.pid) - cpu_before) if target.proc else 0
    ttfb = sorted(r[0] * 1000 for r in results)
    total = sorted(r[1] * 1000 for r in results)
    return {
        "ttfb_p50": statistics.median(ttfb),
        "ttfb_p99": ttfb[int(len(ttfb) * 0.99) - 1],
        "lat_p50": statistics.median(total),
        "lat_p99": total[int(len(total) * 0.99) - 1],
        "rps": requests / elapsed,
        "cpu_ms": cpu / requests / 1e6 if target.proc else float("nan"),
    }


# --- starting things -----------------------------------------------------------------------------


def start_upstream() -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, "-m", "tests.fakes.upstream"]
    proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def spawn_until_forwarded(
    argv: list[str], env: dict[str, str], url: str, auth: str
) -> tuple[subprocess.Popen[bytes], float]:
    """Spawn a gateway and time it to its first forwarded request (a small /v1/messages, 200)."""
    request = urllib.request.Request(
        url + "/v1/messages", data=SMALL_BODY, headers={**HEADERS, "authorization": auth}, method="POST"
    )
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                resp.read()
                if resp.status == 200:
                    return proc, time.perf_counter() - start
        except OSError:
            time.sleep(0.002)
    proc.kill()
    raise TimeoutError(f"{argv} forwarded nothing in 30 s")


def ccgate_env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CCGATE_SECRET_STORE": "file"}
    env.update({f"CCGATE_{d.upper()}_DIR": str(tmp / d) for d in ("config", "data", "state")})
    return env


def sealed_handle(env: dict[str, str], upstream_port: int) -> str:
    """A `max-oauth` profile on the fake upstream and a sealed handle for it, minted by `ccgate use --sealed`."""
    ccgate = [sys.executable, "-P", "-m", "ccgate"]
    subprocess.run(
        [
            *ccgate,
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
    out = subprocess.run(
        [*ccgate, "use", "max", "--sealed", "--shell", "bash"], env=env, check=True, capture_output=True, text=True
    ).stdout
    match = re.search(r"CLAUDE_CODE_OAUTH_TOKEN='?(sk-ant-oat01-ccgate-sealed-[A-Za-z0-9_-]+)", out)
    if not match:
        raise RuntimeError(f"no sealed handle in `ccgate use --sealed` output: {out!r}")
    return match.group(1)


def start_ccgate(tmp: Path, upstream_port: int, log: bool, repo: Path = REPO) -> tuple[Target, subprocess.Popen[bytes]]:
    env = {**ccgate_env(tmp), "PYTHONPATH": str(repo)}
    handle = sealed_handle(env, upstream_port)
    port = free_port()
    # -P, as `ccgate serve --detach` starts it: the tree on PYTHONPATH runs, whatever the working directory.
    argv = [sys.executable, "-P", "-m", "ccgate", "serve", "--port", str(port)] + ([] if log else ["--no-log"])
    base = f"http://127.0.0.1:{port}"
    # The first start ever prices its first record with genai-prices and saves the card to the price
    # cache; every later start finds it there and never imports genai-prices (~25 MiB). The runs are
    # timed on such a later start, as a person's forwarder runs on any day but the first.
    first, first_spawn = spawn_until_forwarded(argv, env, base + "/p/max", f"Bearer {handle}")
    wait_written(base + "/ccgate/health", 1)
    FIRST_START.update(spawn_s=first_spawn, rss_mib=peak_rss_mib(first.pid))
    first.terminate()
    first.wait(30)
    proc, spawn = spawn_until_forwarded(argv, env, base + "/p/max", f"Bearer {handle}")
    # A dashboard tab stays open on the live feed the whole time (the feed does work only for subscribers).
    reader = "import sys,urllib.request as u\nr=u.urlopen(sys.argv[1])\nwhile r.read1(65536): pass"
    feed = subprocess.Popen([sys.executable, "-c", reader, base + "/ccgate/api/live"], stderr=subprocess.DEVNULL)
    target = Target("ccgate", base + "/p/max", f"Bearer {handle}", proc, base + "/ccgate/health", spawn)
    return target, feed


FIRST_START: dict[str, float] = {}


def wait_written(health_url: str, records: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(health_url, timeout=5) as resp:
            if json.loads(resp.read())["log"].get("written", records) >= records:
                return
        time.sleep(0.01)
    raise TimeoutError("the first record was not written")


def start_relay(upstream_port: int) -> Target:
    port = free_port()
    argv = [sys.executable, str(BENCH / "plain_forwarder.py"), f"http://127.0.0.1:{upstream_port}", str(port)]
    base = f"http://127.0.0.1:{port}/p/max"
    proc, spawn = spawn_until_forwarded(argv, dict(os.environ), base, DIRECT_AUTH)
    return Target("bare relay", base, DIRECT_AUTH, proc, None, spawn)


# --- the run -------------------------------------------------------------------------------------

Scenario = tuple[str, bytes, int, int]
Results = dict[tuple[str, str], list[dict[str, float]]]


def run_rounds(targets: list[Target], scenarios: list[Scenario], rounds: int, extra: dict[str, str]) -> Results:
    results: Results = {}
    for r in range(rounds):
        order = targets[r % len(targets) :] + targets[: r % len(targets)]
        for label, body, n, conc in scenarios:
            for target in order:
                results.setdefault((label, target.name), []).append(asyncio.run(load(target, body, n, conc, extra)))
    return results


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="per 1-stream run (32 streams: 4x, 500 KB: 1/2)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--log", action=argparse.BooleanOptionalAction, default=True, help="usage log on (default)")
    parser.add_argument("--paced", action="store_true", help="upstream thinks 50 ms and paces events 2 ms apart")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ccgate-bench-"))
    upstream, up_port = start_upstream()
    direct = Target("direct", f"http://127.0.0.1:{up_port}", DIRECT_AUTH)
    relay = start_relay(up_port)
    gate, feed = start_ccgate(tmp, up_port, args.log)
    scenarios: list[Scenario] = [
        ("1 stream", STREAM_BODY, args.requests, 1),
        ("32 streams", STREAM_BODY, args.requests * 4, 32),
        ("8 x 500 KB bodies", BIG_BODY, max(16, args.requests // 2), 8),
    ]
    try:
        results = run_rounds([direct, relay, gate], scenarios, args.rounds, PACED if args.paced else {})
        peaks = {t.name: peak_rss_mib(t.proc.pid) for t in (relay, gate) if t.proc}
    finally:
        for proc in (feed, gate.proc, relay.proc):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        upstream.communicate("")
    summary = {key: medians(runs) for key, runs in results.items()}
    pace = "paced upstream (50 ms think, 2 ms between events)" if args.paced else "unpaced upstream (bare CPU cost)"
    log = "usage log on" if args.log else "usage log OFF"
    print(f"forwarder bench: {args.requests} requests per 1-stream run, {args.rounds} rounds (medians), {pace}")
    print(f"ccgate: {log}, sealed handle, live-feed subscriber, metrics; relay: plain_forwarder.py on uvloop")
    print_table(
        ("scenario", "path", *COLUMNS, "CPU ms/req", "vs direct"),
        table_rows(scenarios, summary),
    )
    print()
    print(GOALS)
    print_table(("figure", "bare relay", "ccgate", "ccgate / relay", "goal"), goal_rows(summary, relay, gate, peaks))
    print(
        f"ccgate's first start ever (no price cache yet): {FIRST_START['spawn_s']:.3f} s to its first forwarded"
        f" request, {FIRST_START['rss_mib']:.1f} MiB once that request was priced; the runs above are on a later start"
    )


def table_rows(scenarios: list[Scenario], summary: dict[tuple[str, str], dict[str, float]]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for label, *_ in scenarios:
        d = summary[(label, "direct")]
        for name in ("direct", "bare relay", "ccgate"):
            g = summary[(label, name)]
            cpu = "-" if name == "direct" else f"{g['cpu_ms']:.3f}"
            rows.append((label if name == "direct" else "", name, *_fmt(g), cpu, "" if name == "direct" else _vs(d, g)))
    return rows


def goal_rows(
    summary: dict[tuple[str, str], dict[str, float]], relay: Target, gate: Target, peaks: dict[str, float]
) -> list[tuple[str, ...]]:
    def pair(label: str, fn: Callable[[dict[str, float], dict[str, float]], float]) -> tuple[float, float]:
        d = summary[(label, "direct")]
        return fn(d, summary[(label, "bare relay")]), fn(d, summary[(label, "ccgate")])

    rows: list[tuple[str, ...]] = []
    for label in ("1 stream", "32 streams", "8 x 500 KB bodies"):
        r, g = pair(label, lambda d, x: x["cpu_ms"])
        rows.append((f"{label}: CPU ms/request", f"{r:.3f}", f"{g:.3f}", f"{g / r:.2f}x", "<= 1.15x"))
    r, g = pair("1 stream", lambda d, x: x["ttfb_p50"] - d["ttfb_p50"])
    rows.append(("1 stream: added TTFB p50 ms", f"{r:+.2f}", f"{g:+.2f}", f"{g - r:+.2f} ms", "<= +0.30 ms"))
    r, g = pair("32 streams", lambda d, x: x["ttfb_p50"] / d["ttfb_p50"])
    rows.append(("32 streams: TTFB p50 vs direct", f"{r:.2f}x", f"{g:.2f}x", f"{g - r:+.2f}", "<= +0.15"))
    r, g = pair("32 streams", lambda d, x: x["lat_p99"] / d["lat_p99"])
    rows.append(("32 streams: latency p99 vs direct", f"{r:.2f}x", f"{g:.2f}x", "", "ccgate <= 1.05x"))
    r, g = pair("32 streams", lambda d, x: x["rps"] / d["rps"])
    rows.append(("32 streams: req/s vs direct", f"{r:.2f}x", f"{g:.2f}x", f"{g / r:.2f}x", ""))
    r, g = pair("8 x 500 KB bodies", lambda d, x: x["lat_p50"] / d["lat_p50"])
    rows.append(("500 KB: latency p50 vs direct", f"{r:.2f}x", f"{g:.2f}x", f"{g - r:+.2f}", "<= +0.05"))
    r, g = pair("8 x 500 KB bodies", lambda d, x: x["lat_p99"] / d["lat_p99"])
    rows.append(("500 KB: latency p99 vs direct", f"{r:.2f}x", f"{g:.2f}x", f"{g - r:+.2f}", ""))
    r, g = pair("8 x 500 KB bodies", lambda d, x: x["rps"])
    rows.append(("500 KB: req/s", f"{r:.0f}", f"{g:.0f}", f"{g / r:.2f}x", ">= 0.95x"))
    r, g = peaks["bare relay"], peaks["ccgate"]
    rows.append(("peak RSS MiB", f"{r:.1f}", f"{g:.1f}", f"{g / r:.2f}x", "ccgate <= 50"))
    r, g = relay.spawn_s or 0.0, gate.spawn_s or 0.0
    rows.append(("spawn to first forwarded request s", f"{r:.3f}", f"{g:.3f}", f"{g / r:.2f}x", "ccgate <= 0.5"))
    return rows


def _fmt(r: dict[str, float]) -> tuple[str, ...]:
    return (*(f"{r[k]:.2f}" for k in ("ttfb_p50", "ttfb_p99", "lat_p50", "lat_p99")), f"{r['rps']:.0f}")


def _vs(d: dict[str, float], g: dict[str, float]) -> str:
    return (
        f"ttfb +{g['ttfb_p50'] - d['ttfb_p50']:.2f} ms ({g['ttfb_p50'] / d['ttfb_p50']:.2f}x), "
        f"lat p50 {g['lat_p50'] / d['lat_p50']:.2f}x, p99 {g['lat_p99'] / d['lat_p99']:.2f}x, "
        f"rps {g['rps'] / d['rps']:.2f}x"
    )


if __name__ == "__main__":
    main()
