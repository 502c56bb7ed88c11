"""The real Claude Code CLI through `ccgate exec --sealed` and `ccgate serve`, against the fake API.

It proves the sealed handle's shape works with the real client: Claude Code sends the handle as
an OAuth Bearer with the OAuth beta, and only the forwarder turns it into the real token.
`.ci/run` installs the CLI with npm; on a machine without it the test is skipped, except in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.fakes.upstream import FakeUpstream, Gate, add_profile, free_port

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sk-ant-oat01-real-secret-for-the-cli-" + "z" * 30
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_MAX_RETRIES": "2",
}


def claude_binary() -> str | None:
    candidates = [
        os.environ.get("CCGATE_CLAUDE_BIN"),
        shutil.which("claude"),
        str(REPO / ".ci" / "claude-code" / "node_modules" / ".bin" / "claude"),
    ]
    found = next((c for c in candidates if c and Path(c).exists()), None)
    if found is None and os.environ.get("CI"):
        pytest.fail("the Claude Code CLI is not installed; .ci/run installs it with npm")
    return found


def test_real_claude_code_through_exec_sealed(ccgate, tmp_path: Path) -> None:
    claude = claude_binary()
    if claude is None:
        pytest.skip("Claude Code CLI not installed (npm install @anthropic-ai/claude-code)")
    port = free_port()
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"[settings]\nport = {port}\n")
    home = tmp_path / "home"
    home.mkdir()
    with FakeUpstream() as fake:
        add_profile("max", "max-oauth", secret=TOKEN, base_url=fake.url)
        with Gate(port=port) as gate:
            proc = ccgate(
                "exec",
                "max",
                "--sealed",
                "--",
                claude,
                "-p",
                "say hi",
                "--output-format",
                "json",
                env={"HOME": str(home), **QUIET, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
                check=False,
            )
            gate.wait_logged(1)
            _, server_err = gate.stop()
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout)
    assert result["is_error"] is False and "chunk0" in result["result"]
    messages = [r for r in fake.received if r.path.startswith("/v1/messages")]
    assert messages, [r.path for r in fake.received]
    for r in messages:
        assert r.headers["authorization"] == f"Bearer {TOKEN}"
        assert "oauth-2025-04-20" in r.headers["anthropic-beta"].split(",")
        assert r.headers["user-agent"].startswith("claude-cli/")
    # The token never reached Claude Code's process: it only ever held the handle.
    assert TOKEN not in proc.stdout + proc.stderr + server_err
    log = json.loads(ccgate("log", "--json").stdout)
    assert {rec["credential_kind"] for rec in log if rec["path"].startswith("/v1/messages")} == {"sealed"}
    assert ccgate("sealed", "list", "--json").stdout.strip() in ("[]", "")  # exec's handle was revoked
