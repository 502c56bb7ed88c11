"""Hostile input and faults against a real `ccgate serve` over loopback (issue 16: items 2, 3, 9, 13, 15, 17)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, Gate, add_profile, gzip_bomb

API = {"anthropic-version": "2023-06-01", "authorization": "Bearer sk-ant-oat01-client"}
BODY = {"model": "claude-sonnet-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
# What a 256 MiB decompression may add to the forwarder's peak memory without being a bug.
MEMORY_SLACK_MIB = 40


def peak_mib(gate: Gate) -> float:
    assert gate.proc is not None
    for line in Path(f"/proc/{gate.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def rows(gate: Gate) -> list[dict[str, object]]:
    db = gate.health()["log"]["db_path"]
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM requests ORDER BY id")]
    finally:
        conn.close()


def warm(gate: Gate) -> float:
    """One ordinary request each way first, so the peak measured after it is the forwarder's own."""
    assert httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers=API).status_code == 200
    stream = {**BODY, "stream": True}
    assert httpx.post(gate.profile_url("max") + "/v1/messages", json=stream, headers=API).status_code == 200
    gate.wait_logged(2)
    return peak_mib(gate)


def gzip_request_bomb(mib: int) -> bytes:
    compressor = zlib.compressobj(9, wbits=31)
    parts = [compressor.compress(b'{"model": "claude-bomb", "messages": "')]
    zeros = b"0" * (1024 * 1024)
    parts += [compressor.compress(zeros) for _ in range(mib)]
    return b"".join(parts) + compressor.flush()


# --- item 2: compressed bodies are read within a bound, forwarded byte for byte ---------------------


def test_a_gzip_bomb_request_body_goes_upstream_as_sent_and_is_read_within_a_bound(
    gate: Gate, fake: FakeUpstream
) -> None:
    before = warm(gate)
    bomb = gzip_request_bomb(256)
    assert len(bomb) < 1024 * 1024
    headers = {**API, "content-encoding": "gzip", "content-type": "application/json"}
    r = httpx.post(gate.profile_url("max") + "/v1/messages", content=bomb, headers=headers, timeout=60)
    assert r.status_code == 200
    assert fake.received[-1].body == bomb and fake.received[-1].headers["content-encoding"] == "gzip"
    gate.wait_logged(3, timeout=60)
    assert peak_mib(gate) - before < MEMORY_SLACK_MIB
    last = rows(gate)[-1]
    assert last["request_model"] == "claude-bomb" and last["request_bytes"] == len(bomb)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_a_gzip_bomb_response_reaches_the_client_as_sent_and_is_read_within_a_bound(
    gate: Gate, fake: FakeUpstream, stream: bool
) -> None:
    before = warm(gate)
    headers = {**API, "x-fake-bomb": "256", "accept-encoding": "gzip"}
    body = {**BODY, "stream": stream}
    with httpx.stream("POST", gate.profile_url("max") + "/v1/messages", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
        raw = b"".join(r.iter_raw())
    assert raw == gzip_bomb(256)
    gate.wait_logged(3, timeout=60)
    assert peak_mib(gate) - before < MEMORY_SLACK_MIB
    last = rows(gate)[-1]
    assert last["outcome"] == "ok" and last["response_bytes"] == len(raw)
    assert gate.health()["log"]["build_errors"] == 0


# --- item 15: a huge SSE line is relayed whole; the usage tap does not gather it --------------------


def test_a_48_mib_sse_line_is_relayed_whole_and_the_usage_around_it_is_read(gate: Gate, fake: FakeUpstream) -> None:
    before = warm(gate)
    body = {**BODY, "stream": True}
    headers = {**API, "x-fake-line-mib": "48"}
    with httpx.stream("POST", gate.profile_url("max") + "/v1/messages", json=body, headers=headers, timeout=120) as r:
        size = sum(len(chunk) for chunk in r.iter_raw())
        assert r.status_code == 200
    assert size > 48 * 1024 * 1024
    gate.wait_logged(3, timeout=60)
    assert peak_mib(gate) - before < MEMORY_SLACK_MIB
    last = rows(gate)[-1]
    assert (last["input_tokens"], last["output_tokens"], last["cache_read_tokens"]) == (12, 57, 4000)
    assert last["stop_reason"] == "end_turn"


# --- item 9: empty and placeholder credentials are absent -----------------------------------------


def post_raw(port: int, path: str, headers: str) -> int:
    """POST BODY with header lines exactly as written (HTTP clients refuse `Bearer ` with its space)."""
    body = json.dumps(BODY).encode()
    head = f"POST {path} HTTP/1.1\nHost: 127.0.0.1:{port}\n{headers}Content-Length: {len(body)}\nConnection: close\n"
    return status(raw(port, head, body))


@pytest.mark.parametrize(
    "sent",
    ["x-api-key: \n", "x-api-key:\n", "Authorization: Bearer \n", "Authorization: Bearer\n", "x-api-key: None\n"],
    ids=["empty-x-api-key", "no-value", "bearer-space", "bearer-alone", "literal-None"],
)
def test_placeholder_credentials_are_never_forwarded(gate: Gate, fake: FakeUpstream, sent: str) -> None:
    assert post_raw(gate.port, "/p/max/v1/messages", "anthropic-version: 2023-06-01\n" + sent) == 200
    got = fake.received[-1].headers
    assert "x-api-key" not in got and "authorization" not in got
    gate.wait_logged(1)
    assert rows(gate)[-1]["credential_kind"] == "none"


def test_a_placeholder_credential_makes_way_for_injection(fake: FakeUpstream) -> None:
    from tests.gateway.conftest import MAX_SECRET

    add_profile("imax", "max-oauth", secret=MAX_SECRET, base_url=fake.url, inject_credential=True)
    with Gate() as g:
        headers = "anthropic-version: 2023-06-01\nx-api-key: \nAuthorization: Bearer \n"
        assert post_raw(g.port, "/p/imax/v1/messages", headers) == 200
    got = fake.received[-1].headers
    assert got["authorization"] == f"Bearer {MAX_SECRET}" and "x-api-key" not in got


# --- item 13: no query value that can carry a secret is stored --------------------------------------


def test_query_values_that_can_carry_a_secret_stay_out_of_the_log(gate: Gate, fake: FakeUpstream, ccgate) -> None:
    secret = "sk-ant-api03-QUERYSECRETQUERYSECRET"
    path = f"/v1/messages?key={secret}&beta=true&{secret}"
    r = httpx.post(gate.profile_url("max") + path, json=BODY, headers=API)
    assert r.status_code == 200
    assert fake.received[-1].path == path  # forwarded as sent
    gate.wait_logged(1)
    assert rows(gate)[-1]["path"] == "/v1/messages?key=…&beta=true&…"
    shown = ccgate("log", "--json").stdout
    assert secret not in shown and "QUERYSECRET" not in shown
    db = Path(gate.health()["log"]["db_path"])
    assert not any(b"QUERYSECRET" in p.read_bytes() for p in db.parent.glob("usage.db*"))


# --- item 17: guard corners --------------------------------------------------------------------------


def raw(port: int, head: str, body: bytes = b"") -> bytes:
    """Send a request exactly as written (HTTP clients would fix these up) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_host_headers_are_parsed_strictly(gate: Gate, fake: FakeUpstream) -> None:
    for host in (f"127.0.0.1:{gate.port}@evil.example", "[::1]evil", "127.0.0.1 evil", "localhost:80:80", ""):
        for path in ("/p/max/v1/models", "/ccgate/api/now", "/ccgate/health"):
            head = f"GET {path} HTTP/1.1\nHost: {host}\nanthropic-version: 2023-06-01\nConnection: close\n"
            assert status(raw(gate.port, head)) == 403, (host, path)
    no_host = "GET /ccgate/health HTTP/1.0\nConnection: close\n"
    assert status(raw(gate.port, no_host)) == 403
    for host in (f"127.0.0.1:{gate.port}", "localhost", f"[::1]:{gate.port}", "LOCALHOST"):
        assert status(raw(gate.port, f"GET /ccgate/health HTTP/1.1\nHost: {host}\nConnection: close\n")) == 200
    assert fake.received == []


def test_an_absolute_form_target_cannot_vouch_for_a_foreign_host(gate: Gate, fake: FakeUpstream) -> None:
    for path in ("/p/max/v1/models", "/ccgate/api/now", "/ccgate/health"):
        target = f"http://127.0.0.1:{gate.port}{path}"
        for host in ("evil.example", f"127.0.0.1:{gate.port}"):
            head = f"GET {target} HTTP/1.1\nHost: {host}\nanthropic-version: 2023-06-01\nConnection: close\n"
            assert status(raw(gate.port, head)) in (400, 403), (path, host)
    assert fake.received == []


def test_nothing_under_ccgate_is_ever_forwarded(profiles: FakeUpstream, ccgate) -> None:
    ccgate("profile", "default", "max")  # so a forwarded request would reach the fake, not the Internet
    with Gate() as gate:
        _never_forwarded(gate, profiles)


def _never_forwarded(gate: Gate, fake: FakeUpstream) -> None:
    for method in ("POST", "PUT", "DELETE", "GET", "PATCH"):
        for path in ("/ccgate", "/%63cgate", "/ccgate?x=1", "/ccgate/anything", "/%63cgate/api/x"):
            head = (
                f"{method} {path} HTTP/1.1\nHost: 127.0.0.1:{gate.port}\nanthropic-version: 2023-06-01\n"
                "Content-Length: 2\nConnection: close\n"
            )
            assert status(raw(gate.port, head, b"{}")) in (302, 404, 405), (method, path)
    assert fake.received == []


def test_a_browsers_no_cors_request_is_refused_but_claude_code_passes(fake: FakeUpstream) -> None:
    from tests.gateway.conftest import API_SECRET

    add_profile("ikey", "api-key", secret=API_SECRET, base_url=fake.url, inject_credential=True)
    with Gate() as g:
        # What an <img>/<script> tag or a form sends from a browser without fetch metadata.
        browser = {
            "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
            "accept": "image/avif,image/webp,*/*",
            "accept-language": "en",
            "referer": "https://evil.example/",
        }
        for method, path in (("GET", "/v1/models"), ("POST", "/v1/messages"), ("GET", "/")):
            r = httpx.request(method, g.profile_url("ikey") + path, headers=browser, content=b"{}")
            assert r.status_code == 403, (method, path)
            assert r.json()["error"]["type"] == "permission_error"
        assert fake.received == []
        # Claude Code's own requests: its HEAD probe, model discovery, a turn (no credential: injection).
        assert httpx.head(g.profile_url("ikey") + "/").status_code == 200
        discovery = {"user-agent": "claude-cli/2.1.330 (external, cli)", "x-api-key": "sk-ant-api03-own"}
        assert httpx.get(g.profile_url("ikey") + "/v1/models?limit=1000", headers=discovery).status_code == 200
        turn = {"anthropic-version": "2023-06-01", "user-agent": "claude-cli/2.1.330 (external, cli)"}
        assert httpx.post(g.profile_url("ikey") + "/v1/messages", json=BODY, headers=turn).status_code == 200
        assert fake.received[-1].headers["x-api-key"] == API_SECRET


# --- item 3: connections time out, and a fresh request is always served -----------------------------


@pytest.fixture
def short_timeouts(profiles: FakeUpstream) -> FakeUpstream:
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    text = config.read_text()
    settings = "keepalive_timeout_s = 1\nbody_idle_timeout_s = 1\n"
    text = (
        text.replace("[settings]\n", "[settings]\n" + settings)
        if "[settings]" in text
        else f"[settings]\n{settings}\n{text}"
    )
    config.write_text(text)
    return profiles


def closed_within(sock: socket.socket, seconds: float) -> bytes:
    """Everything the forwarder sends until it closes the connection; fails if it stays open."""
    sock.settimeout(seconds)
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except TimeoutError:
        raise AssertionError(f"connection still open after {seconds} s; got {got[:200]!r}") from None
    return got


@pytest.mark.parametrize(
    "sent",
    [
        b"",
        b"POST /p/max/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nanthropic-ver",
        b"POST /p/max/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nanthropic-version: 1\r\nContent-Length: 100\r\n\r\n{",
        b"POST /p/max/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nanthropic-version: 1\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nabc",
    ],
    ids=["nothing", "partial-head", "short-body", "unfinished-chunked"],
)
def test_stalled_connections_are_closed(short_timeouts: FakeUpstream, sent: bytes) -> None:
    with Gate() as gate, socket.create_connection(("127.0.0.1", gate.port)) as sock:
        sock.sendall(sent)
        reply = closed_within(sock, 15)
        if b"Content-Length: 100" in sent or b"chunked" in sent:
            assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
        assert short_timeouts.received == []


def test_idle_keep_alive_connections_are_closed(short_timeouts: FakeUpstream) -> None:
    with Gate() as gate, socket.create_connection(("127.0.0.1", gate.port)) as sock:
        sock.sendall(f"GET /ccgate/health HTTP/1.1\r\nHost: 127.0.0.1:{gate.port}\r\n\r\n".encode())
        assert closed_within(sock, 15).startswith(b"HTTP/1.1 200")


@pytest.fixture
def idle_connections() -> Iterator[list[socket.socket]]:
    held: list[socket.socket] = []
    yield held
    for sock in held:
        sock.close()


def test_a_fresh_request_is_served_past_the_descriptor_limit(
    profiles: FakeUpstream, idle_connections: list[socket.socket]
) -> None:
    with Gate(nofile=256) as gate:
        for i in range(600):  # idle, and with a request head that never ends, well past 256 descriptors
            sock = socket.create_connection(("127.0.0.1", gate.port))
            if i % 2:
                sock.sendall(b"POST /p/max/v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            idle_connections.append(sock)
        for _ in range(3):
            r = httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers=API, timeout=10)
            assert r.status_code == 200
        connections = gate.health()["connections"]
        assert connections["open"] <= connections["limit"] < 256 and connections["evicted"] > 0
    assert len(profiles.received) == 3


def test_connections_busy_with_a_stream_are_never_closed_to_make_room(
    profiles: FakeUpstream, idle_connections: list[socket.socket]
) -> None:
    sent_first = profiles.gate("held")
    with Gate(nofile=256) as gate:
        body = {**BODY, "stream": True}
        headers = {**API, "x-fake-gate": "held"}
        with httpx.stream("POST", gate.profile_url("max") + "/v1/messages", json=body, headers=headers) as held:
            stream = held.iter_raw()
            assert b"message_start" in next(stream)
            assert sent_first.wait(10)
            for _ in range(400):
                idle_connections.append(socket.create_connection(("127.0.0.1", gate.port)))
            deadline = time.monotonic() + 10
            while gate.health()["connections"]["evicted"] < 200 and time.monotonic() < deadline:
                pass
            profiles.release("held")
            assert b"message_stop" in b"".join(stream)
    assert json.loads(profiles.received[-1].body)["stream"] is True
