"""The forwarder end to end: a real `ccgate serve` subprocess between clients and the fake upstream."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import anthropic
import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, Gate, add_profile

PROMPT = [{"role": "user", "content": "hi"}]
MODEL = "claude-sonnet-5"


def _comparable(message: anthropic.types.Message) -> dict[str, object]:
    data = message.model_dump()
    data.pop("id")  # the fake numbers its messages
    return data


@pytest.mark.parametrize("gzip", [False, True])
def test_sdk_results_equal_direct(gate: Gate, fake: FakeUpstream, gzip: bool) -> None:
    extra = {"x-fake-gzip": "1"} if gzip else {}
    direct = anthropic.Anthropic(auth_token="sk-ant-oat01-client", base_url=fake.url, default_headers=extra)
    via = anthropic.Anthropic(auth_token="sk-ant-oat01-client", base_url=gate.profile_url("max"), default_headers=extra)
    with direct, via:
        a = direct.messages.create(model=MODEL, max_tokens=50, messages=PROMPT)
        b = via.messages.create(model=MODEL, max_tokens=50, messages=PROMPT)
        assert _comparable(a) == _comparable(b)
        with direct.messages.stream(model=MODEL, max_tokens=50, messages=PROMPT) as s:
            a_events = [e.type for e in s]
            a_final = s.get_final_message()
        with via.messages.stream(model=MODEL, max_tokens=50, messages=PROMPT) as s:
            b_events = [e.type for e in s]
            b_final = s.get_final_message()
    assert a_events == b_events
    assert _comparable(a_final) == _comparable(b_final)
    assert b_final.usage.cache_creation is not None
    assert b_final.usage.cache_creation.ephemeral_1h_input_tokens == 200


def test_first_event_arrives_before_upstream_sends_the_rest(gate: Gate, fake: FakeUpstream) -> None:
    sent_first = fake.gate("hold")
    body = {"model": MODEL, "max_tokens": 5, "messages": PROMPT, "stream": True}
    headers = {"x-fake-gate": "hold", "authorization": "Bearer sk-ant-oat01-client"}
    with httpx.stream("POST", gate.profile_url("max") + "/v1/messages", json=body, headers=headers, timeout=10) as r:
        stream = r.iter_raw()
        first = next(stream)
        # The upstream is still holding the rest of the stream: nothing was buffered.
        assert sent_first.is_set()
        assert b"message_start" in first
        assert b"message_stop" not in first
        fake.release("hold")
        rest = b"".join(stream)
    assert b"message_stop" in rest


CLIENT_OAUTH = "Bearer sk-ant-oat01-client-own-token"
CLIENT_KEY = "sk-ant-api03-client-own-key"


API = {"anthropic-version": "2023-06-01"}  # every SDK request carries it


def _post(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        url + "/v1/messages",
        json={"model": MODEL, "max_tokens": 5, "messages": PROMPT},
        headers={**API, **headers},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ({"Authorization": CLIENT_OAUTH}, {"authorization": CLIENT_OAUTH, "x-api-key": None}),
        ({"x-api-key": CLIENT_KEY}, {"authorization": None, "x-api-key": CLIENT_KEY}),
        (
            {"Authorization": CLIENT_OAUTH, "x-api-key": CLIENT_KEY},
            {"authorization": CLIENT_OAUTH, "x-api-key": CLIENT_KEY},
        ),
        ({}, {"authorization": None, "x-api-key": None}),
        (
            {"AUTHORIZATION": CLIENT_OAUTH, "X-Api-Key": CLIENT_KEY},
            {"authorization": CLIENT_OAUTH, "x-api-key": CLIENT_KEY},
        ),
    ],
    ids=["oauth-bearer-only", "x-api-key-only", "both", "neither-injection-off", "mixed-case-names"],
)
def test_client_credentials_pass_byte_for_byte(gate: Gate, fake: FakeUpstream, sent: dict, expected: dict) -> None:
    assert _post(gate.profile_url("max"), sent).status_code == 200
    got = fake.received[-1].headers
    for name, value in expected.items():
        assert got.get(name) == value
    assert "None" not in got.values()


def test_neither_with_injection_on_sends_the_profile_secret(fake: FakeUpstream) -> None:
    from tests.gateway.conftest import API_SECRET, MAX_SECRET

    add_profile("imax", "max-oauth", secret=MAX_SECRET, base_url=fake.url, inject_credential=True)
    add_profile("ikey", "api-key", secret=API_SECRET, base_url=fake.url, inject_credential=True)
    with Gate() as g:
        assert _post(g.profile_url("imax"), {"anthropic-beta": "claude-code-20250219"}).status_code == 200
        got = fake.received[-1].headers
        assert got["authorization"] == f"Bearer {MAX_SECRET}"
        assert got["anthropic-beta"] == "claude-code-20250219,oauth-2025-04-20"
        assert "x-api-key" not in got
        assert _post(g.profile_url("ikey"), {}).status_code == 200
        got = fake.received[-1].headers
        assert got["x-api-key"] == API_SECRET
        assert "authorization" not in got
        # A client that brings its own credential still wins over injection.
        assert _post(g.profile_url("imax"), {"x-api-key": CLIENT_KEY}).status_code == 200
        assert fake.received[-1].headers.get("authorization") is None
        assert fake.received[-1].headers["x-api-key"] == CLIENT_KEY
        _, err = g.stop()
    assert MAX_SECRET not in err and API_SECRET not in err


def test_claude_code_headers_go_upstream_and_rate_limits_come_back(gate: Gate, fake: FakeUpstream) -> None:
    sent = {
        "authorization": CLIENT_OAUTH,
        "anthropic-beta": "claude-code-20250219,oauth-2025-04-20,context-1m-2025-08-07",
        "anthropic-version": "2023-06-01",
        "x-app": "cli",
        "user-agent": "claude-cli/2.1.330 (external, cli)",
        "x-claude-code-session-id": "3f1c2a9e-0000-4000-8000-000000000001",
        "x-stainless-lang": "js",
        "anthropic-dangerous-direct-browser-access": "true",
        "x-litellm-api-key": "Bearer sk-virtual",
        "x-custom-thing": "kept",
        "x-fake-ratelimit": "unified",
        "accept-encoding": "gzip, deflate, br, zstd",
    }
    r = httpx.post(
        gate.profile_url("max") + "/v1/messages?beta=true",
        json={"model": MODEL, "max_tokens": 5, "messages": PROMPT},
        headers=sent,
        timeout=10,
    )
    assert r.status_code == 200
    got = fake.received[-1]
    assert got.path == "/v1/messages?beta=true"
    for name, value in sent.items():
        if name != "accept-encoding":
            assert got.headers[name] == value, name
    # Only encodings the usage parser can read are asked for.
    assert got.headers["accept-encoding"] == "gzip, deflate"
    assert got.headers["host"] == f"127.0.0.1:{fake.port}"
    assert r.headers["request-id"].startswith("req_fake_")
    assert r.headers["anthropic-ratelimit-unified-5h-utilization"] == "0.42"


def test_upstream_errors_pass_through_unchanged(gate: Gate, fake: FakeUpstream) -> None:
    for status in (401, 429, 529):
        r = _post(gate.profile_url("max"), {"x-fake-status": str(status), "authorization": CLIENT_OAUTH})
        assert r.status_code == status
        assert r.json()["error"]["message"] == f"fake upstream says {status}"
        if status != 401:
            assert r.headers["retry-after"] == "7"


def test_large_bodies(gate: Gate, fake: FakeUpstream) -> None:
    big = b'{"model":"x","pad":"' + b"a" * (20 * 1024 * 1024) + b'"}'
    r = httpx.post(
        gate.profile_url("max") + "/v1/other",
        content=big,
        headers={**API, "content-type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 200
    assert fake.received[-1].body == big
    before = len(fake.received)
    too_big = b"a" * (65 * 1024 * 1024)
    r = httpx.post(gate.profile_url("max") + "/v1/messages", content=too_big, headers=API, timeout=60)
    assert r.status_code == 413
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "request_too_large"
    assert len(fake.received) == before


def test_gzip_request_body_is_forwarded_as_sent(gate: Gate, fake: FakeUpstream) -> None:
    import gzip

    raw = gzip.compress(b'{"model": "m", "max_tokens": 1, "messages": []}')
    r = httpx.post(
        gate.profile_url("max") + "/v1/other",
        content=raw,
        headers={**API, "content-encoding": "gzip", "content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 200
    assert fake.received[-1].body == raw
    assert fake.received[-1].headers["content-encoding"] == "gzip"


def test_unreachable_upstream_is_502_in_anthropic_shape() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    add_profile("dead", "api-key", secret="sk-ant-api03-x", base_url=f"http://127.0.0.1:{dead}")
    with Gate() as g:
        r = _post(g.profile_url("dead"), {"x-api-key": CLIENT_KEY})
        assert r.status_code == 502
        body = r.json()
        assert body["type"] == "error" and body["error"]["type"] == "api_error"
        assert body["error"]["message"].startswith("ccgate: ")


def test_unknown_profile_is_404_and_probes_answer_at_once(gate: Gate, fake: FakeUpstream) -> None:
    r = _post(gate.url + "/p/nosuch", {})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    for path in ("/", "/p/max", "/p/max/", "/api/hello"):
        assert httpx.head(gate.url + path).status_code == 200
    assert fake.received == []
    health = httpx.get(gate.url + "/health").json()
    assert health["ccgate"] and health["requests"] >= 1 and health["in_flight"] == 0


def test_guards_refuse_foreign_host_and_browser_origins(gate: Gate, fake: FakeUpstream) -> None:
    url = gate.profile_url("max") + "/v1/messages"
    body = {"model": MODEL, "max_tokens": 5, "messages": PROMPT}
    for headers in (
        {"host": "evil.example"},
        {"host": f"attacker.example:{gate.port}"},
        {"origin": "https://evil.example"},
        {"origin": f"http://127.0.0.1:{gate.port}"},  # same origin, but not a dashboard path
        {"sec-fetch-site": "cross-site"},
    ):
        r = httpx.post(url, json=body, headers={**API, **headers})
        assert r.status_code == 403, headers
        assert r.json()["error"]["type"] == "permission_error"
        assert httpx.get(gate.url + "/ccgate/health", headers=headers).status_code == (
            200 if "origin" in headers and headers["origin"].endswith(str(gate.port)) else 403
        )
    assert fake.received == []
    assert httpx.post(url, json=body, headers={**API, "host": f"localhost:{gate.port}"}).status_code == 200


def _raw_request(port: int, target: str) -> bytes:
    """Send a request line exactly as given: HTTP clients would normalise these paths away."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nanthropic-version: 2023-06-01\r\nConnection: close\r\n"
        )
        sock.sendall(head.encode() + b"\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_paths_cannot_leave_the_profiles_upstream(gate: Gate, fake: FakeUpstream) -> None:
    for path in ("//evil.example/v1/messages", "/../../evil.example/v1/messages", "/%2F%2Fevil.example/v1"):
        reply = _raw_request(gate.port, "/p/max" + path)
        assert reply.split(b" ")[1] == b"200", (path, reply[:200])
        assert fake.received[-1].headers["host"] == f"127.0.0.1:{fake.port}"
        assert fake.received[-1].path == path
    reply = _raw_request(gate.port, "http://evil.example/v1/models")
    assert reply.split(b" ")[1] in (b"400", b"403", b"404")
    assert len(fake.received) == 3


def test_sigterm_lets_a_slow_stream_finish_and_exits_0(gate: Gate, fake: FakeUpstream) -> None:
    sent_first = fake.gate("slow")
    body = {"model": MODEL, "max_tokens": 5, "messages": PROMPT, "stream": True}
    headers = {**API, "x-fake-gate": "slow", "x-fake-delay-ms": "20"}
    with httpx.stream("POST", gate.profile_url("max") + "/v1/messages", json=body, headers=headers, timeout=30) as r:
        stream = r.iter_raw()
        chunks = [next(stream)]
        assert sent_first.wait(5)
        assert gate.proc is not None
        gate.proc.terminate()
        fake.release("slow")
        chunks.extend(stream)
    assert b"message_stop" in b"".join(chunks)
    code, err = gate.stop()
    assert code == 0, err


def test_port_in_use_is_one_line_and_exit_1(profiles: FakeUpstream) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-P", "-m", "ccgate", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "cannot listen" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_non_loopback_bind_needs_allow_remote(ccgate) -> None:
    proc = ccgate("serve", "--host", "0.0.0.0", check=False)
    assert proc.returncode != 0 and "--allow-remote" in proc.stderr


def test_detach_status_stop(profiles: FakeUpstream, ccgate) -> None:
    from tests.fakes.upstream import free_port

    port = str(free_port())
    out = ccgate("serve", "--detach", "--port", port).stdout
    assert "pid" in out
    status = ccgate("status", "--json", env={}).stdout
    assert '"running": true' in status.replace("\n", "").replace("  ", " ") or "true" in status
    assert ccgate("serve", "--detach", "--port", port, check=False).returncode == 1
    assert "stopped" in ccgate("stop").stdout
    assert ccgate("status", check=False).returncode == 3


def test_client_going_away_cancels_the_upstream_request(gate: Gate, fake: FakeUpstream) -> None:
    sent_first = fake.gate("gone")
    body = {"model": MODEL, "max_tokens": 5, "messages": PROMPT, "stream": True}
    with httpx.stream(
        "POST",
        gate.profile_url("max") + "/v1/messages",
        json=body,
        headers={**API, "x-fake-gate": "gone", "x-fake-events": "50"},
        timeout=10,
    ) as r:
        assert b"message_start" in next(r.iter_raw())
        assert sent_first.wait(5)
    # The client hung up while the upstream was holding the stream: ccgate's side ends at once...
    deadline = time.monotonic() + 10
    while gate.health()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gate.health()["in_flight"] == 0
    # ...and it dropped its upstream connection: the upstream's next writes fail.
    fake.release("gone")
    while not fake.aborted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.aborted == ["msg_fake_000001"]


def test_a_profile_added_or_edited_while_serving_is_served(gate: Gate, fake: FakeUpstream) -> None:
    assert _post(gate.url + "/p/late", {"x-api-key": CLIENT_KEY}).status_code == 404
    add_profile("late", "api-key", secret="sk-ant-api03-late", base_url=fake.url)
    # Its very first request: a profile not found makes the forwarder read config.toml again at once.
    assert _post(gate.url + "/p/late", {"x-api-key": CLIENT_KEY}).status_code == 200
    assert fake.received[-1].headers["x-api-key"] == CLIENT_KEY
    with FakeUpstream() as other:
        proc = subprocess.run(
            [sys.executable, "-P", "-m", "ccgate", "profile", "edit", "late", "--base-url", other.url],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        # An edit reaches the forwarder within its re-check interval (a second).
        deadline = time.monotonic() + 10
        while not other.received and time.monotonic() < deadline:
            assert _post(gate.url + "/p/late", {"x-api-key": CLIENT_KEY}).status_code == 200
        assert other.received and other.received[-1].path == "/v1/messages"
