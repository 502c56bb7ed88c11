"""The real Claude Code CLI through `ccgate exec --sealed` and `ccgate serve`, against the fake API.

It proves the sealed handle's shape works with the real client: Claude Code sends the handle as
an OAuth Bearer with the OAuth beta, and only the forwarder turns it into the real token.
`.ci/run` installs both pinned versions with npm (tests/claude_cli.py finds them).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.claude_cli import QUIET, VERSIONS, claude_binary
from tests.fakes.upstream import FakeUpstream, Gate, add_profile, free_port

TOKEN = "sk-ant-oat01-real-secret-for-the-cli-" + "z" * 30


@pytest.mark.parametrize("version", VERSIONS)
def test_real_claude_code_through_exec_sealed(ccgate, tmp_path: Path, version: str) -> None:
    claude = claude_binary(version)
    port = free_port()
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
