"""A handle minted for one process dies with it, however that process ends (issue 16, item 8)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import httpx

from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate

MAX = "sk-ant-oat01-owner-" + "w" * 30
# Kills ccgate exec (its parent) as its very first act, the moment it has started: no cleanup
# of ccgate's runs and nothing it would have done after starting the command happens. Then it
# prints its handle and lives until its stdin closes.
CHILD = 'kill -KILL "$PPID"; printf "%s\\n" "$CLAUDE_CODE_OAUTH_TOKEN"; read -r _'


def _ask(gate: Gate, handle: str) -> httpx.Response:
    return httpx.post(gate.profile_url("max") + "/v1/messages", json={}, headers={"authorization": f"Bearer {handle}"})


def test_killed_exec_leaves_no_live_handle(ccgate: Runner, fake: FakeUpstream) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--base-url", fake.url, "--secret-stdin", input=MAX)
    with Gate() as gate:
        with subprocess.Popen(
            [sys.executable, "-P", "-m", "ccgate", "exec", "max", "--sealed", "--", "sh", "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            handle = proc.stdout.readline().strip()
            assert "ccgate-sealed-" in handle
            assert proc.wait(10) == -signal.SIGKILL
            kept = _ask(gate, handle)
            assert kept.status_code == 200, kept.text  # the command it was minted for still runs
            proc.stdin.close()  # now the command ends too...
            assert proc.stdout.read() == ""  # ...and its end of the pipe closes with it
        refused = _ask(gate, handle)
        assert refused.status_code == 401
        assert "ended with the process it was minted for" in refused.json()["error"]["message"]
        assert json.loads(ccgate("sealed", "list", "--json").stdout) == []
    assert len([r for r in fake.received if r.path == "/v1/messages"]) == 1
    assert all(r.headers["authorization"] == f"Bearer {MAX}" for r in fake.received)
