"""The real Claude Code CLI against budgets and the fallback, through `ccgate use … --gate` and `ccgate serve`.

- A tiny daily budget on an API-key profile: once spent, the next prompt ends at once with the budget
  message and the upstream receives nothing; `budget list` shows spent >= limit; a raised budget lets
  the next prompt through.
- A Max profile whose upstream answers 429 `rejected`: the answer comes from the fallback profile's
  upstream with the fallback's credential, nothing of the refusal reaches Claude Code, and after the
  reset time the subscription answers again.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.claude_cli import QUIET, VERSIONS, claude_binary
from tests.fakes.upstream import FakeUpstream, Gate, add_profile, free_port

MAX = "sk-ant-oat01-e2e-subscription-" + "m" * 30
API = "sk-ant-api03-e2e-key-" + "a" * 30


def _prompt(ccgate, profile: str, claude: str, home: Path, text: str) -> tuple[subprocess.CompletedProcess[str], float]:  # type: ignore[no-untyped-def]
    """`eval "$(ccgate use PROFILE --gate)"; claude -p TEXT` in bash, as a person types it."""
    started = time.monotonic()
    script = f'eval "$(ccgate use {profile} --gate --shell bash)" && exec "$0" -p "$1" --output-format json'
    env = {
        **os.environ,
        "HOME": str(home),
        **QUIET,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "-c", script, claude, text], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    return proc, time.monotonic() - started


def _messages(fake: FakeUpstream) -> list[object]:
    return [r for r in fake.received if r.path.startswith("/v1/messages") and "count_tokens" not in r.path]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_spent_daily_budget_stops_claude_code_and_a_raised_one_lets_it_go_on(
    ccgate, tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude = claude_binary(version)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    monkeypatch.setenv("CCGATE_PORT", str(port))  # `ccgate use --gate` and the forwarder agree on it
    with FakeUpstream() as fake:
        add_profile("api", "api-key", secret=API, base_url=fake.url, header="x-fake-ratelimit: api")
        ccgate("budget", "set", "api", "--day", "0.0001")
        with Gate(port=port) as gate:
            first, _ = _prompt(ccgate, "api", claude, home, "say hi")
            assert first.returncode == 0, first.stderr + first.stdout
            assert json.loads(first.stdout)["is_error"] is False
            gate.wait_logged(len(_messages(fake)))
            before = len(fake.received)
            second, took = _prompt(ccgate, "api", claude, home, "say hi again")
            assert len(fake.received) == before  # the upstream received nothing
            listed = json.loads(ccgate("budget", "list", "--json").stdout)
            ccgate("budget", "set", "api", "--day", "100")
            third, _ = _prompt(ccgate, "api", claude, home, "and once more")
            assert len(_messages(fake)) > 0 and len(fake.received) > before
    assert took < 10
    result = json.loads(second.stdout)
    assert result["is_error"] is True
    assert "ccgate: budget spent: profile 'api' has used $" in result["result"]
    assert "of its $0.0001 daily budget" in result["result"] and "ccgate budget set api --day" in result["result"]
    (day,) = listed
    assert day["period"] == "day" and day["spent_usd"] >= day["limit_usd"] == 0.0001 and day["state"] == "spent"
    assert third.returncode == 0 and json.loads(third.stdout)["is_error"] is False


@pytest.mark.parametrize("version", VERSIONS)
def test_a_used_up_max_is_answered_by_its_fallback_until_the_reset(
    ccgate, tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    claude = claude_binary(version)
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    monkeypatch.setenv("CCGATE_PORT", str(port))
    with FakeUpstream(label="from-max ") as sub, FakeUpstream(label="from-api ") as api:
        add_profile("max", "max-oauth", secret=MAX, base_url=sub.url)
        add_profile("api", "api-key", secret=API, base_url=api.url)
        ccgate("profile", "edit", "max", "--fallback", "api")
        with Gate(port=port) as gate:
            # Long enough for a slow start of Claude Code; whole seconds, as the reset header says it.
            sub.reject_until = float(math.ceil(time.time()) + 8)
            used_up, _ = _prompt(ccgate, "max", claude, home, "say hi")
            refused = len(_messages(sub))
            while time.time() < sub.reject_until:  # the window resets
                time.sleep(0.05)
            answered_by_api = len(_messages(api))
            back, _ = _prompt(ccgate, "max", claude, home, "say hi again")
            gate.wait_logged(refused + answered_by_api + 1)
    assert used_up.returncode == 0, used_up.stderr + used_up.stdout
    result = json.loads(used_up.stdout)
    assert result["is_error"] is False and "from-api chunk0" in result["result"]
    assert (
        "429" not in used_up.stdout and "rejected" not in used_up.stdout and "fake upstream says" not in used_up.stdout
    )
    assert refused >= 1 and answered_by_api >= 1
    for request in _messages(api):
        assert request.headers["x-api-key"] == API  # type: ignore[attr-defined]
        assert "authorization" not in request.headers  # type: ignore[attr-defined]
    for request in _messages(sub):
        assert request.headers["authorization"] == f"Bearer {MAX}"  # type: ignore[attr-defined]
    assert back.returncode == 0 and "from-max chunk0" in json.loads(back.stdout)["result"]
    assert len(_messages(api)) == answered_by_api  # after the reset, the subscription again
    log = json.loads(ccgate("log", "--json").stdout)
    assert {(r["profile"], r["status"]) for r in log if r["endpoint"] == "messages"} == {
        ("max", 429),
        ("api", 200),
        ("max", 200),
    }
