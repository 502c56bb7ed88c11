"""The usage log end to end: a real `ccgate serve` subprocess between an aiohttp client and the fake
upstream (tests/fakes/upstream.py), then `ccgate log --json` and the SQLite file itself."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ccgate import paths
from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate, add_profile, upstream
from tests.usage.streams import tokens_of

CLIENT_KEY = "sk-ant-api03-CLIENTKEY-e2e-SECRET-0123456789"
PROFILE_KEY = "sk-ant-api03-PROFILEKEY-e2e-SECRET-9876543210"
PROMPT = "PROMPT-SENTINEL-the-quarterly-numbers-are-confidential"
SESSION = "6a1f4c2e-0d1b-4e5f-9a7c-3b2d1e0f9a8b"
TOKEN_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "cache_write_other_tokens",
    "web_search_requests",
    "web_fetch_requests",
)


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with upstream() as up:
        add_profile("fake", "api-key", secret=PROFILE_KEY, base_url=up.url)
        yield up


@pytest.fixture
def gate(fake: FakeUpstream) -> Iterator[Gate]:
    with Gate() as g:
        yield g


def random_usage(rng: random.Random) -> dict[str, Any]:
    w5, w1, other = rng.randint(0, 5000), rng.randint(0, 5000), rng.choice([0, 0, rng.randint(1, 900)])
    return {
        "input_tokens": rng.randint(1, 3000),
        "cache_creation_input_tokens": w5 + w1 + other,
        "cache_read_input_tokens": rng.randint(0, 90000),
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1},
        "output_tokens": rng.randint(2, 4000),
        "server_tool_use": {"web_search_requests": rng.randint(0, 3), "web_fetch_requests": rng.randint(0, 2)},
        "service_tier": "standard",
    }


async def send(
    session: aiohttp.ClientSession,
    gate: Gate,
    *,
    stream: bool,
    path: str = "/v1/messages?beta=true",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    body = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 1000,
        "stream": stream,
        "system": [{"type": "text", "text": PROMPT}],
        "messages": [{"role": "user", "content": PROMPT}],
        "metadata": {"user_id": json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION})},
    }
    all_headers = {
        "x-api-key": CLIENT_KEY,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "accept-encoding": "gzip, deflate, br, zstd",
        **(headers or {}),
    }
    async with session.post(gate.profile_url("fake") + path, json=body, headers=all_headers) as resp:
        return resp.status, await resp.read()


def log_json(ccgate: Runner) -> list[dict[str, Any]]:
    return json.loads(ccgate("log", "--json", "-n", "100000").stdout)


def received_by_request_id(fake: FakeUpstream) -> dict[str, Any]:
    """The fake numbers its answers req_fake_000001…, in the order it received the requests."""
    return {f"req_fake_{i:06d}": rec for i, rec in enumerate(fake.received, start=1)}


def sums(items: list[dict[str, int]]) -> dict[str, int]:
    return {key: sum(item[key] for item in items) for key in TOKEN_KEYS}


async def test_n_requests_logged_once_with_the_upstreams_token_sums(
    fake: FakeUpstream, gate: Gate, ccgate: Runner
) -> None:
    rng = random.Random(4)
    plan = [(stream, gz, family) for stream in (True, False) for gz in ("", "1") for family in ("unified", "api", "")]
    plan = plan * 3  # 36 messages: streaming and not, gzip and not, each billing family
    async with aiohttp.ClientSession() as session:
        calls = []
        for i, (stream, gz, family) in enumerate(plan):
            headers = {
                "x-fake-usage": json.dumps(random_usage(rng)),
                "x-fake-gzip": gz,
                "x-fake-ratelimit": family,
                "x-claude-code-session-id": SESSION,
                "x-fake-events": str(i % 5),
            }
            headers = {k: v for k, v in headers.items() if v}
            calls.append(send(session, gate, stream=stream, headers=headers))
        calls.append(send(session, gate, stream=False, path="/v1/messages/count_tokens?beta=true"))
        results = await asyncio.gather(*calls)
    assert all(status == 200 for status, _ in results)
    n = len(plan) + 1
    gate.wait_logged(n)

    records = log_json(ccgate)
    assert len(records) == n
    assert len({r["request_id"] for r in records}) == n  # each request exactly once
    messages = [r for r in records if r["endpoint"] == "messages"]
    assert sums(messages) == sums([tokens_of(u) for u in fake.answered])
    (counted,) = [r for r in records if r["endpoint"] == "count_tokens"]
    assert counted["count_tokens_input"] == 1234 and all(counted[k] == 0 for k in TOKEN_KEYS)

    by_id = received_by_request_id(fake)
    billing = {"unified": "subscription", "api": "api", None: "unknown"}
    for rec in messages:
        sent = by_id[rec["request_id"]]
        assert rec["input_tokens"] == json.loads(sent.headers["x-fake-usage"])["input_tokens"]
        assert rec["billing"] == billing[sent.headers.get("x-fake-ratelimit")]
        assert rec["stream"] is sent.json()["stream"]
        assert (rec["profile"], rec["session_id"], rec["outcome"], rec["status"]) == ("fake", SESSION, "ok", 200)
        assert rec["request_model"] == rec["model"] == "claude-sonnet-5-5"
        assert rec["credential_kind"] == "api_key" and rec["credential_fp"]
    assert Counter(r["stream"] for r in messages) == {True: 18, False: 18}

    # Nothing of the prompt and no credential in the database file (nor in its WAL).
    data = b"".join(p.read_bytes() for p in paths.usage_db().parent.glob("usage.db*"))
    assert b"claude-sonnet-5-5" in data
    for needle in (PROMPT, CLIENT_KEY, PROFILE_KEY, "CLIENTKEY", "PROFILEKEY"):
        assert needle.encode() not in data, needle


async def test_billing_route_end_to_end(fake: FakeUpstream, gate: Gate, ccgate: Runner) -> None:
    async with aiohttp.ClientSession() as session:
        for family in ("unified", "api", ""):
            headers = {"x-fake-ratelimit": family} if family else {}
            assert (await send(session, gate, stream=True, headers=headers))[0] == 200
    gate.wait_logged(3)
    records = log_json(ccgate)
    assert [r["billing"] for r in records] == ["subscription", "api", "unknown"]
    unified = records[0]
    assert (unified["rl_status"], unified["rl_5h_utilization"], unified["rl_7d_utilization"]) == ("allowed", 0.42, 0.17)
    assert (unified["rl_5h_reset"], unified["rl_representative_claim"]) == (1893456000, "five_hour")
    assert records[1]["rl_status"] is None


async def test_faults_each_accounted_once(fake: FakeUpstream, gate: Gate, ccgate: Runner) -> None:
    usage = {
        "input_tokens": 321,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 0,
        "output_tokens": 777,
    }
    common = {"x-fake-usage": json.dumps(usage), "x-fake-gzip": "1"}
    async with aiohttp.ClientSession() as session:
        # 1. The client goes away mid-stream: the gate holds the stream after its first event.
        first_sent = fake.gate("abort")
        resp = await session.post(
            gate.profile_url("fake") + "/v1/messages",
            json={"model": "claude-sonnet-5-5", "stream": True},
            headers={"x-api-key": CLIENT_KEY, "x-fake-gate": "abort", **common},
        )
        assert resp.status == 200
        await resp.content.readany()
        assert first_sent.wait(10)
        resp.close()  # drops the connection
        await asyncio.get_running_loop().run_in_executor(None, gate.wait_logged, 1)
        fake.release("abort")
        # 2. The upstream drops mid-stream; 3. an error event inside a 200 stream.
        dropped = send(session, gate, stream=True, headers={**common, "x-fake-drop": "1"})
        with pytest.raises(aiohttp.ClientPayloadError):
            await dropped
        assert (await send(session, gate, stream=True, headers={**common, "x-fake-error-event": "1"}))[0] == 200
        # 4. Upstream errors.
        for status in (429, 529, 401):
            assert (await send(session, gate, stream=True, headers={"x-fake-status": str(status)}))[0] == status
    gate.wait_logged(6)
    records = log_json(ccgate)
    assert len(records) == 6 and len({r["request_id"] for r in records}) == 6
    aborted, drop, error_event, r429, r529, r401 = records

    assert (aborted["status"], aborted["outcome"]) == (200, "client_closed")
    assert (aborted["input_tokens"], aborted["cache_read_tokens"], aborted["output_tokens"]) == (321, 1000, 1)
    assert (drop["outcome"], drop["input_tokens"], drop["output_tokens"]) == ("upstream_dropped", 321, 1)
    assert (error_event["status"], error_event["outcome"], error_event["error_type"]) == (200, "ok", "overloaded_error")
    assert error_event["input_tokens"] == 321 and error_event["stop_reason"] is None
    assert (r429["status"], r429["error_type"], r429["retry_after"]) == (429, "rate_limit_error", "7")
    assert (r529["status"], r529["error_type"], r529["retry_after"]) == (529, "overloaded_error", "7")
    assert (r401["status"], r401["error_type"]) == (401, "authentication_error")
    assert all(r[k] == 0 for r in (r429, r529, r401) for k in TOKEN_KEYS)


async def test_unwritable_database_mid_run_then_writable_again(fake: FakeUpstream, gate: Gate, ccgate: Runner) -> None:
    """The file is locked by another process's write transaction (this fails writes for root too, which
    chmod does not): forwarding goes on, health shows the backlog, rows appear once it is released."""
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            assert (await send(session, gate, stream=True))[0] == 200
        gate.wait_logged(3)
        holder = sqlite3.connect(paths.usage_db(), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            results = await asyncio.gather(*(send(session, gate, stream=i % 2 == 0) for i in range(10)))
            assert [status for status, _ in results] == [200] * 10
            deadline = time.monotonic() + 15
            while not (gate.health()["log"]["backlog"] == 10 and gate.health()["log"]["last_error"]):
                assert time.monotonic() < deadline, gate.health()
                await asyncio.sleep(0.02)
            report = gate.health()["log"]
            assert report["written"] == 3 and report["dropped"] == 0
            assert "not writable" in report["last_error"]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    report = gate.wait_logged(13)["log"]
    assert (report["backlog"], report["dropped"], report["last_error"]) == (0, 0, None)
    records = log_json(ccgate)
    assert len(records) == 13 and len({r["request_id"] for r in records}) == 13


async def test_kill_9_under_load_leaves_a_sound_database(fake: FakeUpstream, gate: Gate) -> None:
    completed: list[int] = []
    stop = asyncio.Event()

    async def worker(session: aiohttp.ClientSession) -> None:
        while not stop.is_set():
            try:
                status, _ = await send(session, gate, stream=len(completed) % 2 == 0)
                completed.append(status)
            except (TimeoutError, aiohttp.ClientError):
                return  # the server is gone

    async with aiohttp.ClientSession() as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(16)]
        deadline = time.monotonic() + 30
        while gate.health()["log"]["written"] < 300:
            assert time.monotonic() < deadline, gate.health()
            await asyncio.sleep(0.02)
        assert gate.proc is not None
        os.kill(gate.proc.pid, signal.SIGKILL)
        assert gate.stop()[0] == -signal.SIGKILL  # reaps it and closes its pipes
        stop.set()
        await asyncio.gather(*workers)
    conn = sqlite3.connect(paths.usage_db())
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute("SELECT COUNT(*), COUNT(DISTINCT request_id) FROM requests").fetchone()
    finally:
        conn.close()
    assert rows[0] == rows[1] >= 300  # no duplicates; what had been written is still there
    assert rows[0] <= len(fake.received)  # only requests in flight (or in the writer queue) may be missing


def _chattr(flag: str, *files: Path) -> bool:
    existing = [str(f) for f in files if f.exists()]
    return subprocess.run(["chattr", flag, *existing], capture_output=True).returncode == 0


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr (e2fsprogs)")
async def test_read_only_database_mid_run_then_writable_again(fake: FakeUpstream, gate: Gate, ccgate: Runner) -> None:
    """The database files made immutable (chattr +i fails writes even through open descriptors and for root,
    unlike chmod): forwarding continues, records wait, and are written once the files are writable again."""
    db = paths.usage_db()
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            assert (await send(session, gate, stream=False))[0] == 200
        gate.wait_logged(3)
        files = (db, Path(f"{db}-wal"))
        if not _chattr("+i", *files):
            pytest.skip("this filesystem or user cannot set the immutable attribute")
        try:
            results = await asyncio.gather(*(send(session, gate, stream=i % 2 == 1) for i in range(8)))
            assert [status for status, _ in results] == [200] * 8
            deadline = time.monotonic() + 15
            while not (gate.health()["log"]["backlog"] == 8 and gate.health()["log"]["last_error"]):
                assert time.monotonic() < deadline, gate.health()
                await asyncio.sleep(0.02)
            assert gate.health()["log"]["written"] == 3
        finally:
            _chattr("-i", *files)
    report = gate.wait_logged(11)["log"]
    assert (report["backlog"], report["dropped"]) == (0, 0)
    records = log_json(ccgate)
    assert len(records) == 11 and len({r["request_id"] for r in records}) == 11
