"""Finding the running forwarder, starting it safely and stopping it: real `ccgate serve` processes.

Each test's CCGATE_PORT names a port nothing listens on (tests/conftest.py), so a forwarder is
only ever found because the test started it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate, free_port, wait_for_health

MAX = "sk-ant-oat01-running-" + "r" * 30


@pytest.fixture
def foreign_forwarder() -> Iterator[list[str]]:
    """Someone else's ccgate on the configured port: answers /ccgate/health, records every request."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = json.dumps({"ccgate": "0.0.0-someone-else", "status": "ok", "requests": 99, "log": {}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", int(os.environ["CCGATE_PORT"])), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield seen
    server.shutdown()
    server.server_close()


def _base_url(shell_code: str) -> str:
    for line in shell_code.splitlines():
        if line.startswith("export ANTHROPIC_BASE_URL="):
            return line.split("=", 1)[1].strip("'")
    raise AssertionError(f"no ANTHROPIC_BASE_URL in:\n{shell_code}")


def test_use_gate_finds_a_foreground_forwarder_on_another_port(
    ccgate: Runner, fake: FakeUpstream, foreign_forwarder: list[str]
) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--base-url", fake.url, "--secret-stdin", input=MAX)
    with Gate() as gate:
        assert gate.port != int(os.environ["CCGATE_PORT"])
        use = ccgate("use", "max", "--gate", "--shell", "bash")
        assert _base_url(use.stdout) == f"{gate.url}/p/max"
        assert use.stderr == ""
        probe = f"{sys.executable} -c 'import os; print(os.environ[\"ANTHROPIC_BASE_URL\"])'"
        exec_ = ccgate("exec", "max", "--gate", "--", "sh", "-c", probe)
        assert exec_.stdout.strip() == f"{gate.url}/p/max"
        assert ccgate("ui", "--no-open").stdout.strip() == f"{gate.url}/ccgate/"
        status = json.loads(ccgate("status", "--json").stdout)
        assert status["url"] == gate.url and status["health"]["requests"] == 0
        checks = json.loads(ccgate("doctor", "--json", check=False).stdout)
        forwarder = next(c for c in checks if c["name"] == "forwarder")
        assert forwarder["status"] == "ok" and gate.url in forwarder["detail"]
    assert foreign_forwarder == []  # nothing asked the forwarder on the configured port


def test_use_gate_without_a_forwarder_uses_the_configured_port_and_says_so(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=MAX)
    use = ccgate("use", "max", "--gate", "--shell", "bash")
    assert _base_url(use.stdout) == f"http://127.0.0.1:{os.environ['CCGATE_PORT']}/p/max"
    assert "no forwarder is running" in use.stderr and "ccgate serve --detach" in use.stderr
    assert len(use.stderr.strip().splitlines()) == 1


def test_detached_forwarder_on_a_custom_port_is_found(ccgate: Runner, fake: FakeUpstream) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--base-url", fake.url, "--secret-stdin", input=MAX)
    port = free_port()
    out = ccgate("serve", "--detach", "--port", str(port)).stdout
    try:
        assert f"http://127.0.0.1:{port}" in out
        assert _base_url(ccgate("use", "max", "--gate", "--shell", "bash").stdout) == f"http://127.0.0.1:{port}/p/max"
    finally:
        assert "stopped" in ccgate("stop").stdout
    assert ccgate("status", check=False).returncode == 3


@pytest.fixture
def hostile_cwd(tmp_path: Path) -> Path:
    """A directory holding a `ccgate.py` and a `ccgate/` package that leave a mark if ever imported."""
    cwd = tmp_path / "cwd"
    (cwd / "ccgate").mkdir(parents=True)
    mark = tmp_path / "imported-from-cwd"
    code = f"open({str(mark)!r}, 'w').write('yes')\nraise SystemExit(42)\n"
    (cwd / "ccgate.py").write_text(code)
    (cwd / "ccgate" / "__init__.py").write_text(code)
    (cwd / "ccgate" / "__main__.py").write_text(code)
    return cwd


def test_detach_never_runs_code_from_the_working_directory(ccgate: Runner, hostile_cwd: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "ccgate", "serve", "--detach", "--port", str(port)],
        cwd=hostile_cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert proc.returncode == 0, proc.stderr
        assert wait_for_health(f"http://127.0.0.1:{port}")["status"] == "ok"
    finally:
        ccgate("stop")
    assert not (hostile_cwd.parent / "imported-from-cwd").exists()


def test_foreground_serve_while_one_runs_names_it(ccgate: Runner) -> None:
    with Gate() as gate:
        assert gate.proc is not None
        proc = ccgate("serve", "--port", str(free_port()), check=False)
        assert proc.returncode == 1
        assert proc.stderr.strip() == (
            f"ccgate: already running (pid {gate.proc.pid}, {gate.url}); `ccgate stop` first"
        )


def test_allow_remote_warns_once(ccgate: Runner) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "ccgate", "serve", "--host", "0.0.0.0", "--allow-remote", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert err.count("other machines can send requests") == 1, err


def test_a_broken_config_edit_while_serving_is_logged_once(ccgate: Runner, fake: FakeUpstream) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--base-url", fake.url, "--secret-stdin", input=MAX)
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    api = {"anthropic-version": "2023-06-01"}

    def ask(profile: str) -> int:
        # An unknown profile makes the forwarder look at config.toml at once (a known one: once a second).
        return httpx.post(gate.profile_url(profile) + "/v1/messages", json={}, headers=api).status_code

    with Gate() as gate:
        good = config.read_text()
        config.write_text(good + "\n[profiles.broken\n")
        for _ in range(3):  # each looks at the broken file; the warning comes once
            assert ask("not-there") == 404
        assert ask("max") == 200  # still served with the config loaded before
        config.write_text(good + "\n# fixed\n")
        assert ask("not-there") == 404
        _, err = gate.stop()
    lines = [line for line in err.splitlines() if "config.toml" in line]
    assert len(lines) == 2, err
    assert f"line {good.count(chr(10)) + 2}" in lines[0] and "still serving with the config loaded before" in lines[0]
    assert "valid again" in lines[1]


def _open_stream(gate: Gate, gate_name: str) -> socket.socket:
    """A raw streaming request that the fake upstream holds open after its first event."""
    body = json.dumps({"model": "claude-sonnet-5", "max_tokens": 5, "stream": True, "messages": []}).encode()
    sock = socket.create_connection(("127.0.0.1", gate.port), timeout=10)
    request = (
        f"POST /p/max/v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{gate.port}\r\nContent-Type: application/json\r\n"
        f"anthropic-version: 2023-06-01\r\nx-fake-gate: {gate_name}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(request + body)
    received = b""
    while b"message_start" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the stream ended before its first event: {received!r}"
        received += chunk
    return sock


def test_second_ctrl_c_ends_open_streams_at_once(ccgate: Runner, fake: FakeUpstream) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--base-url", fake.url, "--secret-stdin", input=MAX)
    fake.gate("held")  # the stream stays open until the test ends: only a forced stop can end it
    gate = Gate().start()
    assert gate.proc is not None and gate.proc.stderr is not None
    sock = _open_stream(gate, "held")
    try:
        gate.proc.send_signal(signal.SIGINT)
        while "letting requests in flight finish" not in (line := gate.proc.stderr.readline().decode()):
            assert line, "serve ended without saying it was stopping"
        assert gate.proc.poll() is None  # the first Ctrl-C waits for the stream
        gate.proc.send_signal(signal.SIGINT)
        gate.proc.communicate(timeout=20)  # well within the 30 s the first Ctrl-C would have waited
        assert gate.proc.returncode == 0
    finally:
        sock.close()
        fake.release("held")
    log = json.loads(ccgate("log", "--json").stdout)
    assert [(r["path"], r["outcome"]) for r in log] == [("/v1/messages", "client_closed")]
