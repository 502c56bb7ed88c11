"""The forwarder under hostile load (issue 16): decompression bombs, piles of idle and half-open
connections, kill -9 in the middle of a busy minute.

    python bench/hardening_bench.py [--bombs 20] [--kills 5]

Runs the fake Anthropic upstream and `ccgate serve` (usage log on) on 127.0.0.1 and prints:

1. peak RSS and /ccgate/health latency (polled every 10 ms) at idle and while 1 MB gzip bombs
   (each decoding to 1 GiB) arrive as request bodies and as responses, streamed and not;
2. fresh requests while 2,000 idle and 2,000 partial-header connections are held, at the
   machine's descriptor limit and under `ulimit -n 1024`;
3. records lost when `ccgate serve` is killed -9 under 64-way load (answers the clients
   received in full, minus rows in the usage log), over several kills.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import print_table  # noqa: E402

from tests.fakes.upstream import Gate, add_profile, gzip_bomb  # noqa: E402

API = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-api03-bench"}
BOMB_MIB = 1024


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


PROBE = """
import sys, time, urllib.request
url, samples = sys.argv[1] + "/ccgate/health", []
import threading
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
while not stop.wait(0.01):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
    samples.append((time.perf_counter() - start) * 1000)
print(" ".join(f"{s:.3f}" for s in samples))
"""


class HealthProbe:
    """Times /ccgate/health every 10 ms from a process of its own (so the load's own work here never
    shows up as the forwarder's latency)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples: list[float] = []

    def __enter__(self) -> HealthProbe:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, self.url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self._proc.communicate("")
        self.samples = [float(x) for x in out.split()]

    def summary(self) -> str:
        s = sorted(self.samples)
        return f"p50 {statistics.median(s):.1f} ms, p99 {s[int(len(s) * 0.99) - 1]:.1f} ms, max {s[-1]:.1f} ms"


class Upstream:
    """The fake upstream in a process of its own, like forwarder_bench.py runs it."""

    def __enter__(self) -> Upstream:
        argv = [sys.executable, "-m", "tests.fakes.upstream"]
        self._proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        self.url = f"http://127.0.0.1:{int(self._proc.stdout.readline())}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.communicate("")


def request_bomb(mib: int) -> bytes:
    compressor = zlib.compressobj(9, wbits=31)
    zeros = bytes(1024 * 1024)
    parts = [compressor.compress(b'{"model": "claude-bomb", "messages": "')]
    parts += [compressor.compress(zeros) for _ in range(mib)]
    return b"".join(parts) + compressor.flush()


async def send_bombs(url: str, kind: str, count: int, bomb: bytes) -> float:
    headers = {**API, "content-type": "application/json"}
    start = time.perf_counter()
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for _ in range(count):
            if kind == "request":
                data, h = bomb, {**headers, "content-encoding": "gzip"}
            else:
                stream = kind == "sse response"
                data = b'{"model": "m", "stream": %s}' % (b"true" if stream else b"false")
                h = {**headers, "x-fake-bomb": str(BOMB_MIB), "accept-encoding": "gzip"}
            async with session.post(url + "/v1/messages", data=data, headers=h) as resp:
                got = await resp.read()
                assert resp.status == 200, resp.status
                if kind != "request":
                    assert got == gzip_bomb(BOMB_MIB)
    return time.perf_counter() - start


def bombs(count: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    bomb = request_bomb(BOMB_MIB)
    gzip_bomb(BOMB_MIB)  # built before the clock starts
    with Upstream() as fake:
        use_upstream(fake)
        asyncio.run(send_bombs(fake.url, "json response", 1, bomb))  # the upstream builds its bomb once
        with Gate() as gate:
            assert gate.proc is not None
            with HealthProbe(gate.url) as probe:
                time.sleep(1.0)  # idle: the baseline the probe sees
            rows.append(("idle", "-", "-", f"{peak_mib(gate.proc.pid):.1f}", probe.summary()))
            for kind in ("request", "json response", "sse response"):
                with HealthProbe(gate.url) as probe:
                    elapsed = asyncio.run(send_bombs(gate.profile_url("fake"), kind, count, bomb))
                rows.append(
                    (
                        f"1 MB gzip bombs as {kind}s (1 GiB each decoded)",
                        f"{count} x {len(bomb) / 1e6:.2f} MB",
                        f"{count / elapsed:.1f}/s",
                        f"{peak_mib(gate.proc.pid):.1f}",
                        probe.summary(),
                    )
                )
            log = gate.wait_logged(3 * count, timeout=60)["log"]
            rows.append(("usage log after the bombs", f"{log['written']} rows", f"{log['dropped']} dropped", "", ""))
    return rows


def held_connections(nofile: int | None) -> list[tuple[str, ...]]:
    with Upstream() as fake:
        use_upstream(fake)
        with Gate(nofile=nofile) as gate:
            held = []
            try:
                for i in range(4000):
                    sock = socket.create_connection(("127.0.0.1", gate.port))
                    if i % 2:
                        sock.sendall(b"POST /p/fake/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nanthropic-ver")
                    held.append(sock)
                latencies, statuses = [], []
                body = b'{"model": "m", "max_tokens": 1}'
                for _ in range(20):
                    start = time.perf_counter()
                    request = urllib.request.Request(
                        gate.profile_url("fake") + "/v1/messages", data=body, headers=API, method="POST"
                    )
                    with urllib.request.urlopen(request, timeout=30) as resp:
                        resp.read()
                        statuses.append(resp.status)
                    latencies.append((time.perf_counter() - start) * 1000)
                connections = gate.health()["connections"]
            finally:
                for sock in held:
                    sock.close()
    limit = f"ulimit -n {nofile}" if nofile else f"ulimit -n {os.sysconf('SC_OPEN_MAX')}"
    return [
        (
            f"2,000 idle + 2,000 partial-header connections, {limit}",
            f"{statuses.count(200)}/20 fresh requests answered 200",
            f"p50 {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms",
            f"cap {connections['limit']}, open {connections['open']}, closed to make room {connections['evicted']}",
        )
    ]


async def load_until_killed(gate: Gate, concurrency: int, seconds: float) -> set[str]:
    done: set[str] = set()
    body = {"model": "claude-sonnet-5", "max_tokens": 5, "stream": True, "messages": []}

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                async with session.post(gate.profile_url("fake") + "/v1/messages", json=body, headers=API) as r:
                    await r.read()
                    done.add(r.headers["request-id"])
            except (aiohttp.ClientError, KeyError):
                return

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(concurrency)]
        await asyncio.sleep(seconds)
        assert gate.proc is not None
        gate.proc.kill()
        await asyncio.gather(*tasks)
    return done


def kills(count: int) -> list[tuple[str, ...]]:
    lost, answered, sound = [], [], 0
    for _ in range(count):
        with Upstream() as fake:
            os.environ["CCGATE_DATA_DIR"] = tempfile.mkdtemp(prefix="ccgate-kill-")
            use_upstream(fake)
            gate = Gate().start()
            try:
                done = asyncio.run(load_until_killed(gate, 64, 3.0))
            finally:
                gate.stop()
            conn = sqlite3.connect(Path(os.environ["CCGATE_DATA_DIR"]) / "usage.db")
            sound += conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            logged = {row[0] for row in conn.execute("SELECT request_id FROM requests")}
            conn.close()
            lost.append(len(done - logged))
            answered.append(len(done))
    return [
        (
            f"kill -9 under 64-way load, {count} kills",
            f"answered in full per kill: median {statistics.median(answered):.0f}",
            f"lost: median {statistics.median(lost):.0f}, max {max(lost)} ({lost})",
            f"integrity_check ok {sound}/{count}",
        )
    ]


def use_upstream(fake: Upstream) -> None:
    """Profile `fake` on this run's fake upstream (added once, then pointed at each new fake)."""
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    if config.exists() and "fake" in config.read_text():
        argv = [sys.executable, "-P", "-m", "ccgate", "profile", "edit", "fake", "--base-url", fake.url]
        subprocess.run(argv, check=True, capture_output=True)
    else:
        add_profile("fake", "api-key", secret="sk-ant-api03-profile", base_url=fake.url, insecure_storage=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bombs", type=int, default=20, help="bombs of each kind")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--parts", default="bombs,connections,kills", help="which of bombs,connections,kills")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    root = Path(tempfile.mkdtemp(prefix="ccgate-hardening-"))
    for name in ("config", "data", "state"):
        os.environ[f"CCGATE_{name.upper()}_DIR"] = str(root / name)
    os.environ["CCGATE_SECRET_STORE"] = "file"
    os.environ["PYTHONPATH"] = str(REPO)
    if "bombs" in parts:
        print_table(("bombs", "sent", "rate", "peak RSS MiB", "/ccgate/health latency"), bombs(args.bombs))
        print()
    if "connections" in parts:
        rows = held_connections(None) + held_connections(1024)
        print_table(("connections held", "fresh requests", "latency", "forwarder"), rows)
        print()
    if "kills" in parts:
        print_table(("kill -9", "answered", "records lost", "database"), kills(args.kills))


if __name__ == "__main__":
    main()
