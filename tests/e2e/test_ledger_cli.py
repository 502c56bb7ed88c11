"""The whole ledger with the real Claude Code CLI: sessions through the forwarder and sessions straight
to the (fake) API in one HOME, one of them with nested subagents; `ccgate import` then counts every
request exactly once with the upstream's own token figures (issue 17's acceptance)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.claude_cli import QUIET, VERSIONS, claude_binary
from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate, add_profile

TOKEN = "sk-ant-oat01-ledger-e2e-" + "l" * 30


def run_claude(claude: str, home: Path, cwd: Path, base_url: str, prompt: str, headers: str = "") -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "CLAUDE_CODE_OAUTH_TOKEN": TOKEN,
        **QUIET,
    }
    if headers:
        env["ANTHROPIC_CUSTOM_HEADERS"] = headers
    proc = subprocess.run(
        [claude, "-p", prompt, "--output-format", "json"], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


def upstream_totals(fake: FakeUpstream) -> dict[str, int]:
    """What the fake upstream answered, per token class, over every Messages response it completed."""
    out = {"requests": 0, "input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0}
    for usage in fake.answered:
        out["requests"] += 1
        out["input_tokens"] += usage.get("input_tokens", 0)
        out["cache_read_tokens"] += usage.get("cache_read_input_tokens", 0)
        out["cache_write_tokens"] += usage.get("cache_creation_input_tokens", 0)
        out["output_tokens"] += usage.get("output_tokens", 0)
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_import_counts_every_request_once_across_gate_and_direct_sessions(
    ccgate: Runner, tmp_path: Path, version: str
) -> None:
    claude = claude_binary(version)
    home = tmp_path / "home"
    home.mkdir()
    routed, direct = tmp_path / "routed-project", tmp_path / "direct-project"
    routed.mkdir()
    direct.mkdir()
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    with FakeUpstream() as fake:
        add_profile("max", "max-oauth", secret=TOKEN, base_url=fake.url)
        # The follower would import while serving; this test wants the explicit `ccgate import`.
        config.write_text(config.read_text() + "\n[settings]\nimport_while_serving = false\n")
        with Gate(env={"HOME": str(home)}) as gate:
            run_claude(claude, home, routed, gate.profile_url("max"), "delegate the zebra count", "x-fake-agents: 2")
            run_claude(claude, home, direct, fake.url, "say hi purple elephant")
            gate.wait_logged(1)
        upstream = upstream_totals(fake)
    env = {"HOME": str(home)}
    first = json.loads(ccgate("import", "--json", env=env).stdout)
    assert first["added"] > 0 and first["merged"] > 0
    report = json.loads(ccgate("stats", "--since", "1d", "--json", env=env).stdout)
    totals = report["totals"]
    assert {k: totals[k] for k in upstream} == upstream  # every request once, every class the upstream's
    projects = {
        r["key"]: r
        for r in json.loads(ccgate("stats", "--since", "1d", "--by", "project", "--json", env=env).stdout)["rows"]
    }
    assert set(projects) == {str(routed.resolve()), str(direct.resolve())}
    again = json.loads(ccgate("import", "--json", env=env).stdout)
    assert (again["added"], again["merged"], again["updated"]) == (0, 0, 0)
    reconcile = json.loads(ccgate("stats", "reconcile", "--since", "1d", "--json", env=env).stdout)
    by_project: dict[str, dict[str, Any]] = {s["projects"][0]: s for s in reconcile["sessions"]}
    assert by_project[str(direct.resolve())]["status"] == "not routed"
    assert by_project[str(direct.resolve())]["bypassed_requests"] > 0
    assert by_project[str(routed.resolve())]["gateway_requests"] > 0
    assert by_project[str(routed.resolve())]["bypassed_requests"] == 0
    # The prompts and answers never reached the usage log.
    db = b"".join(p.read_bytes() for p in Path(os.environ["CCGATE_DATA_DIR"]).glob("usage.db*"))
    for words in (b"zebra", b"purple elephant", b"fake answer"):
        assert words not in db
