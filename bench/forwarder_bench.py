"""The forwarder against going direct and against two references: the floor in Python (a bare
aiohttp relay on uvloop) and nginx (C), the issue 19 table in one run.

    python bench/forwarder_bench.py [--requests 400] [--rounds 3] [--paced] [--log | --no-log]

Runs the fake Anthropic upstream in its own process, the bare relay (plain_forwarder.py), nginx
and `ccgate serve` each in another, and an aiohttp load generator here. nginx is used when it is
installed (on PATH or /usr/sbin; CCGATE_BENCH_NGINX names another binary, or `none`): one process
(master_process off), a config of its own in a temporary directory, upstream keepalive, responses
unbuffered; without it its column is left out. ccgate runs as a person uses it: usage log on, a
sealed handle resolved on every request, a dashboard subscribed to the live feed, Prometheus
metrics counting, started a second time (the first start fills the price cache, as a person's
first day does; its figures are printed too). Each round runs every scenario direct, through the
relay, through ccgate and through nginx with the same requests (the order rotates per round):
1 stream at a time, 32 concurrent streams, 8 concurrent 500 KB request bodies. Figures are
medians over the rounds.

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
import shutil
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
NGINX = "nginx (C)"
SCENARIO_LABELS = ("1 stream", "32 streams", "8 x 500 KB bodies")
GOALS = "goals (issue 19): CPU <= 1.15x relay; TTFB and latency within the margins; RSS <= 50 MiB; spawn <= 0.5 s"


@dataclass
class Target:
    name: str
    url: str  # up to the API path: .../v1/messages is appended
    auth: str
    proc: subprocess.Popen[bytes] | None = None
    health_url: str | None = None  # ccgate: wait for the usage log to drain before reading CPU
    spawn_s: float | None = None
    version: str | None = None  # nginx: what `nginx -V` calls itself, for the header


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


def start_ccgate(
    tmp: Path, upstream_port: int, log: bool, repo: Path = REPO, env_extra: dict[str, str] | None = None
) -> tuple[Target, subprocess.Popen[bytes]]:
    env = {**ccgate_env(tmp), "PYTHONPATH": str(repo), **(env_extra or {})}
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


def find_nginx() -> str | None:
    """nginx's binary: CCGATE_BENCH_NGINX (a path, or `none` to leave nginx out), else PATH, else /usr/sbin."""
    chosen = os.environ.get("CCGATE_BENCH_NGINX")
    if chosen:
        return None if chosen == "none" else chosen
    # Debian installs it in /usr/sbin, which is on root's PATH but often not on a user's.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")


def nginx_build(binary: str) -> tuple[str, str]:
    """`nginx -V`: the version (its first line, e.g. nginx/1.22.1) and the configure arguments."""
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, check=True).stderr
    return out.splitlines()[0].removeprefix("nginx version: "), out


def nginx_conf(tmp: Path, port: int, upstream_port: int, configure: str) -> str:
    """One process forwarding /p/max/ to the upstream as the relay does: unbuffered answers, kept-alive upstream."""
    # Every temporary path inside `tmp`, so that nginx runs as any user and leaves /var alone; a
    # module built out (--without-http_scgi_module, ...) would refuse its path directive.
    temp_paths = "".join(
        f"    {module}_temp_path {tmp / module};\n"
        for module in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        if f"--without-http_{module}_module" not in configure
    )
    return f"""daemon off;
master_process off;  # one process: cpu_ns and peak_rss_mib read all of it, as for the relay
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
{temp_paths}    # aiohttp's servers do not cap the requests on a connection; nginx's default is 1000.
    keepalive_requests 1000000;
    upstream upstream {{
        server 127.0.0.1:{upstream_port};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location /p/max/ {{
            proxy_pass http://upstream/;
            # Kept-alive upstream connections need HTTP/1.1 and no `Connection: close`.
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # The relay drops the client's Host and its aiohttp client sends the upstream's own (as
            # api.anthropic.com expects its own name); nginx's default is the block's name, "upstream".
            proxy_set_header Host 127.0.0.1:{upstream_port};
            # Answers go to the client chunk by chunk as they arrive (streams); a body is read whole
            # first, in memory (500 KB fits the 1 MB buffer), as the relay reads it (ccgate too, to 1 MiB).
            proxy_buffering off;
            proxy_request_buffering on;
            client_body_buffer_size 1m;
            client_max_body_size 64m;
            gzip off;
        }}
    }}
}}
"""


def start_nginx(upstream_port: int) -> Target | None:
    """nginx (C) as the second reference, or None when it is not installed."""
    binary = find_nginx()
    if binary is None:
        return None
    version, configure = nginx_build(binary)
    tmp = Path(tempfile.mkdtemp(prefix="ccgate-bench-nginx-"))
    port = free_port()
    (tmp / "nginx.conf").write_text(nginx_conf(tmp, port, upstream_port, configure))
    argv = [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
    base = f"http://127.0.0.1:{port}/p/max"
    try:
        proc, spawn = spawn_until_forwarded(argv, dict(os.environ), base, DIRECT_AUTH)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{exc}\n{nginx_errors(argv, tmp)}") from exc
    return Target(NGINX, base, DIRECT_AUTH, proc, None, spawn, version)


def nginx_errors(argv: list[str], tmp: Path) -> str:
    """Why nginx did not forward: its config test (errors before the log opens go to stderr) and its log."""
    test = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    log = tmp / "error.log"
    return test.stderr + (log.read_text() if log.exists() else "")


def stop_all(started: list[subprocess.Popen[bytes] | None], upstream: subprocess.Popen[str]) -> None:
    """Stop every gateway started (newest first; None: one that was not), then the upstream."""
    for proc in reversed(started):
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    upstream.communicate("")


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
    scenarios: list[Scenario] = [
        ("1 stream", STREAM_BODY, args.requests, 1),
        ("32 streams", STREAM_BODY, args.requests * 4, 32),
        ("8 x 500 KB bodies", BIG_BODY, max(16, args.requests // 2), 8),
    ]
    started: list[subprocess.Popen[bytes] | None] = []  # stopped however the run ends, a failed start too
    try:
        relay = start_relay(up_port)
        started.append(relay.proc)
        nginx = start_nginx(up_port)
        started.append(nginx.proc if nginx else None)
        gate, feed = start_ccgate(tmp, up_port, args.log)
        started += [gate.proc, feed]
        gateways = [relay, gate, *([nginx] if nginx else [])]  # the tables' column order
        results = run_rounds([direct, *gateways], scenarios, args.rounds, PACED if args.paced else {})
        peaks = {t.name: peak_rss_mib(t.proc.pid) for t in gateways if t.proc}
    finally:
        stop_all(started, upstream)
    summary = {key: medians(runs) for key, runs in results.items()}
    pace = "paced upstream (50 ms think, 2 ms between events)" if args.paced else "unpaced upstream (bare CPU cost)"
    log = "usage log on" if args.log else "usage log OFF"
    print(f"forwarder bench: {args.requests} requests per 1-stream run, {args.rounds} rounds (medians), {pace}")
    print(f"ccgate: {log}, sealed handle, live-feed subscriber, metrics; relay: plain_forwarder.py on uvloop")
    if nginx:
        print(f"nginx (C): {nginx.version}, one process, upstream keepalive, proxy_buffering off")
    else:
        print("nginx (C): not found (apt-get install nginx-light, or CCGATE_BENCH_NGINX=PATH); its column is left out")
    names = [t.name for t in gateways]
    print_table(
        ("scenario", "path", *COLUMNS, "CPU ms/req", "vs direct"),
        table_rows(scenarios, summary, names),
    )
    print()
    print(GOALS)
    print_table(("figure", *names, "ccgate / relay", "goal"), goal_rows(summary, gateways, peaks))
    print(
        f"ccgate's first start ever (no price cache yet): {FIRST_START['spawn_s']:.3f} s to its first forwarded"
        f" request, {FIRST_START['rss_mib']:.1f} MiB once that request was priced; the runs above are on a later start"
    )


def table_rows(
    scenarios: list[Scenario], summary: dict[tuple[str, str], dict[str, float]], names: list[str]
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for label, *_ in scenarios:
        d = summary[(label, "direct")]
        rows.append((label, "direct", *_fmt(d), "-", ""))
        for name in names:
            g = summary[(label, name)]
            rows.append(("", name, *_fmt(g), f"{g['cpu_ms']:.3f}", _vs(d, g)))
    return rows


Figures = dict[str, float]  # one figure per gateway name


def goal_rows(
    summary: dict[tuple[str, str], dict[str, float]], gateways: list[Target], peaks: Figures
) -> list[tuple[str, ...]]:
    """Each goal's figure for every gateway (relay, ccgate, nginx when it ran), ccgate against the relay, the goal."""
    names = [t.name for t in gateways]

    def per(label: str, fn: Callable[[dict[str, float], dict[str, float]], float]) -> Figures:
        d = summary[(label, "direct")]
        return {name: fn(d, summary[(label, name)]) for name in names}

    def row(figure: str, values: Figures, cell: str, ratio: str, goal: str) -> tuple[str, ...]:
        return (figure, *(cell.format(values[name]) for name in names), ratio, goal)

    rows: list[tuple[str, ...]] = []
    for label in SCENARIO_LABELS:
        v = per(label, lambda d, x: x["cpu_ms"])
        rows.append(row(f"{label}: CPU ms/request", v, "{:.3f}", _times(v), "<= 1.15x"))
    v = per("1 stream", lambda d, x: x["ttfb_p50"] - d["ttfb_p50"])
    rows.append(row("1 stream: added TTFB p50 ms", v, "{:+.2f}", _gap(v) + " ms", "<= +0.30 ms"))
    v = per("32 streams", lambda d, x: x["ttfb_p50"] / d["ttfb_p50"])
    rows.append(row("32 streams: TTFB p50 vs direct", v, "{:.2f}x", _gap(v), "<= +0.15"))
    v = per("32 streams", lambda d, x: x["lat_p99"] / d["lat_p99"])
    rows.append(row("32 streams: latency p99 vs direct", v, "{:.2f}x", "", "ccgate <= 1.05x"))
    v = per("32 streams", lambda d, x: x["rps"] / d["rps"])
    rows.append(row("32 streams: req/s vs direct", v, "{:.2f}x", _times(v), ""))
    v = per("8 x 500 KB bodies", lambda d, x: x["lat_p50"] / d["lat_p50"])
    rows.append(row("500 KB: latency p50 vs direct", v, "{:.2f}x", _gap(v), "<= +0.05"))
    v = per("8 x 500 KB bodies", lambda d, x: x["lat_p99"] / d["lat_p99"])
    rows.append(row("500 KB: latency p99 vs direct", v, "{:.2f}x", _gap(v), ""))
    v = per("8 x 500 KB bodies", lambda d, x: x["rps"])
    rows.append(row("500 KB: req/s", v, "{:.0f}", _times(v), ">= 0.95x"))
    rows.append(row("peak RSS MiB", peaks, "{:.1f}", _times(peaks), "ccgate <= 50"))
    v = {t.name: t.spawn_s or 0.0 for t in gateways}
    rows.append(row("spawn to first forwarded request s", v, "{:.3f}", _times(v), "ccgate <= 0.5"))
    return rows


def _times(v: Figures) -> str:
    """ccgate / relay as a factor."""
    return f"{v['ccgate'] / v['bare relay']:.2f}x"


def _gap(v: Figures) -> str:
    """ccgate - relay."""
    return f"{v['ccgate'] - v['bare relay']:+.2f}"


def _fmt(r: dict[str, float]) -> tuple[str, ...]:
    return (*(f"{r[k]:.2f}" for k in ("ttfb_p50", "ttfb_p99", "lat_p50", "lat_p99")), f"{r['rps']:.0f}")


def _vs(d: dict[str, float], g: dict[str, float]) -> str:
    return (
        f"ttfb {g['ttfb_p50'] - d['ttfb_p50']:+.2f} ms ({g['ttfb_p50'] / d['ttfb_p50']:.2f}x), "
        f"lat p50 {g['lat_p50'] / d['lat_p50']:.2f}x, p99 {g['lat_p99'] / d['lat_p99']:.2f}x, "
        f"rps {g['rps'] / d['rps']:.2f}x"
    )


if __name__ == "__main__":
    main()
