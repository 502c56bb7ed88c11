"""`ccgate doctor` against real config files, a real usage log, a real forwarder and real settings files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ccgate.usage import store
from ccgate.usage.model import UsageRecord
from tests.fakes.upstream import FakeUpstream, Gate, add_profile, free_port

MAX = "sk-ant-oat01-doctor-" + "x" * 30


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir()
    (tmp_path / "project").mkdir()
    return {"HOME": str(tmp_path / "home")}


def doctor(ccgate, env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[int, list[dict[str, str]]]:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-P", "-m", "ccgate", "doctor", "--json", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def by_name(checks: list[dict[str, str]], prefix: str) -> list[dict[str, str]]:
    return [c for c in checks if c["name"].startswith(prefix)]


def test_healthy_setup_passes(ccgate, home: dict[str, str]) -> None:
    add_profile("max", "max-oauth", secret=MAX)
    code, checks = doctor(ccgate, home)
    assert code == 0
    assert by_name(checks, "profile max")[0]["status"] == "ok"
    assert by_name(checks, "forwarder")[0]["status"] == "warn"  # not running: a warning, not a failure
    assert all(c["status"] != "fail" for c in checks)
    text = ccgate("doctor", env=home).stdout
    assert "ok    profile max" in text and "fix: ccgate serve --detach" in text


def test_missing_secret_and_broken_config_fail(ccgate, home: dict[str, str]) -> None:
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[profiles.max]\nkind = "max-oauth"\n')
    code, checks = doctor(ccgate, home)
    assert code == 1
    missing = by_name(checks, "profile max")[0]
    assert missing["status"] == "fail" and missing["fix"] == "ccgate profile edit max --secret"
    config.write_text("[profiles.max\n")
    code, checks = doctor(ccgate, home)
    assert code == 1 and checks[0]["name"] == "config" and "line 1" in checks[0]["detail"]


def test_environment_conflicts_and_unsealed_secrets_warn(ccgate, home: dict[str, str]) -> None:
    add_profile("max", "max-oauth", secret=MAX)
    env = {**home, "CLAUDE_CODE_OAUTH_TOKEN": MAX, "ANTHROPIC_API_KEY": "sk-ant-api03-k", "CCGATE_PROFILE": "max"}
    _, checks = doctor(ccgate, env)
    details = " | ".join(c["detail"] for c in by_name(checks, "environment"))
    assert "are both set" in details and "unsealed" in details
    # A sealed handle in the environment is exactly what the warning asks for.
    sealed = {**home, "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-ccgate-sealed-abcd1234-x", "CCGATE_PROFILE": "max"}
    _, checks = doctor(ccgate, sealed)
    assert [c["status"] for c in by_name(checks, "environment")] == ["ok"]
    scrubbed = {
        **home,
        "CLAUDE_CODE_OAUTH_TOKEN": MAX,
        "CCGATE_PROFILE": "max",
        "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB": "1",
    }
    _, checks = doctor(ccgate, scrubbed)
    assert [c["status"] for c in by_name(checks, "environment")] == ["ok"]


def test_claude_code_settings_that_override_the_shell_warn(ccgate, home: dict[str, str], tmp_path: Path) -> None:
    user = Path(home["HOME"]) / ".claude"
    user.mkdir()
    (user / "settings.json").write_text(json.dumps({"env": {"ANTHROPIC_BASE_URL": "http://x"}, "hooks": {}}))
    project = tmp_path / "project" / ".claude"
    project.mkdir()
    (project / "settings.local.json").write_text(json.dumps({"apiKeyHelper": "/usr/bin/my-key"}))
    (Path(home["HOME"]) / ".claude.json").write_text(json.dumps({"primaryApiKey": "sk-ant-api03-left-behind"}))
    _, checks = doctor(ccgate, home, cwd=tmp_path / "project")
    warned = by_name(checks, "claude settings")
    assert [c["status"] for c in warned] == ["warn", "warn", "warn"]
    text = " ".join(c["detail"] for c in warned)
    assert "ANTHROPIC_BASE_URL" in text and "apiKeyHelper" in text and "primaryApiKey" in text
    assert "sk-ant-api03-left-behind" not in json.dumps(checks)


def test_running_forwarder_and_injection_warning(ccgate, home: dict[str, str]) -> None:
    add_profile("max", "max-oauth", secret=MAX, inject_credential=True)
    port = free_port()  # not the configured port: doctor finds the running forwarder by its run file
    with Gate(port=port):
        _, checks = doctor(ccgate, home)
    forwarder = by_name(checks, "forwarder")[0]
    assert forwarder["status"] == "ok" and str(port) in forwarder["detail"]
    assert by_name(checks, "injection max")[0]["status"] == "warn"


def _record(profile: str, status: int, billing: str, ago: float) -> UsageRecord:
    return UsageRecord(
        ts=time.time() - ago,
        profile=profile,
        method="POST",
        path="/v1/messages",
        endpoint="messages",
        status=status,
        outcome="ok",
        billing=billing,
    )


def test_usage_log_shows_api_billing_and_revoked_tokens(ccgate, home: dict[str, str]) -> None:
    add_profile("max", "max-oauth", secret=MAX)
    add_profile("work", "max-oauth", secret=MAX + "w")
    conn = store.connect()
    store.insert_records(
        conn,
        [
            _record("max", 200, "subscription", 300),
            _record("max", 200, "api", 200),
            _record("max", 200, "subscription", 100),
            _record("work", 200, "subscription", 300),
            _record("work", 401, "unknown", 10),
        ],
    )
    conn.close()
    code, checks = doctor(ccgate, home)
    assert code == 1
    assert by_name(checks, "billing max")[0]["status"] == "fail"
    assert "1 of 3" in by_name(checks, "billing max")[0]["detail"]
    token = by_name(checks, "token work")[0]
    assert token["status"] == "fail" and "claude setup-token" in token["fix"]
    log = by_name(checks, "usage log")[0]
    assert log["status"] == "ok" and "MB" in log["detail"]


def test_online_checks_each_upstream(ccgate, home: dict[str, str]) -> None:
    with FakeUpstream() as fake:
        add_profile("here", "api-key", secret="sk-ant-api03-k", base_url=fake.url)
        add_profile("gone", "api-key", secret="sk-ant-api03-k", base_url=f"http://127.0.0.1:{free_port()}")
        code, checks = doctor(ccgate, home, "--online")
    assert by_name(checks, "upstream here")[0]["status"] == "ok"
    assert by_name(checks, "upstream gone")[0]["status"] == "fail"
    assert code == 1


def test_locked_keyring_fails_with_its_fix(ccgate, home: dict[str, str]) -> None:
    add_profile("max", "max-oauth", secret=MAX)
    code, checks = doctor(ccgate, {**home, "CCGATE_TEST_KEYRING_LOCKED": "1"})
    assert code == 1
    store_check = by_name(checks, "secret store")[0]
    assert store_check["status"] == "fail" and store_check["detail"]
    assert MAX not in json.dumps(checks)


def test_dropped_usage_records_fail(ccgate, home: dict[str, str], tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # a forwarder whose usage log lost records
            body = json.dumps({"requests": 9, "log": {"dropped": 3, "backlog": 0, "last_error": "disk full"}}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:  # it wrote no run file: doctor asks the configured port
        code, checks = doctor(ccgate, {**home, "CCGATE_PORT": str(server.server_address[1])})
    finally:
        server.shutdown()
        server.server_close()
    forwarder = by_name(checks, "forwarder")[0]
    assert code == 1 and forwarder["status"] == "fail" and "dropped 3" in forwarder["detail"]
