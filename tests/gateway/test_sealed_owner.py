"""A handle minted for one process dies with it, however that process ends (issue 16, item 8)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx

from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate

MAX = "sk-ant-oat01-owner-" + "w" * 30
# Prints its handle, then lives until its stdin closes.
CHILD = "import os, sys; print(os.environ['CLAUDE_CODE_OAUTH_TOKEN'], flush=True); sys.stdin.read()"


def _ask(gate: Gate, handle: str) -> httpx.Response:
    return httpx.post(gate.profile_url("max") + "/v1/messages", json={}, headers={"authorization": f"Bearer {handle}"})


def test_killed_exec_leaves_no_live_handle(ccgate: Runner, fake: FakeUpstream) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--base-url", fake.url, "--secret-stdin", input=MAX)
    with Gate() as gate:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "ccgate", "exec", "max", "--sealed", "--", sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert proc.stdin is not None and proc.stdout is not None
        handle = proc.stdout.readline().strip()
        assert "ccgate-sealed-" in handle
        os.kill(proc.pid, signal.SIGKILL)  # ccgate exec dies at once: its cleanup never runs
        proc.wait(10)
        assert _ask(gate, handle).status_code == 200  # the command it was minted for still runs
        proc.stdin.close()  # now the command ends too...
        assert proc.stdout.read() == ""  # ...and its end of the pipe closes with it
        proc.stdout.close()
        refused = _ask(gate, handle)
        assert refused.status_code == 401
        assert "ended with the process it was minted for" in refused.json()["error"]["message"]
        assert json.loads(ccgate("sealed", "list", "--json").stdout) == []
    assert len([r for r in fake.received if r.path == "/v1/messages"]) == 1
    assert all(r.headers["authorization"] == f"Bearer {MAX}" for r in fake.received)
