"""`ccgate exec` and claude-login profiles, through real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ccgate.profiles import MANAGED_VARS
from tests.conftest import Runner
from tests.shells import REAL_SHELLS, eval_in_shell

OAT = "sk-ant-oat01-" + "E" * 40
HOSTILE = "$(touch pwned) `touch pwned2` ';touch pwned3;' \n[1m] ✓"
DUMP = [sys.executable, "-P", "-c", "import os, json, sys; sys.stdout.write(json.dumps(dict(os.environ)))"]
# Variables a shell adds to its own environment; they are not ccgate's doing.
SHELL_NOISE = {"SHLVL", "PWD", "OLDPWD", "_", "CODE_FILE", "TMPDIR", "HOME", "PATH", "LOGNAME", "USER"}

DIRTY = {"ANTHROPIC_API_KEY": "sk-ant-api03-old", "ANTHROPIC_BASE_URL": "http://old", "UNRELATED": "kept"}


@pytest.fixture
def max_profile(ccgate: Runner) -> None:
    ccgate(
        "profile",
        "add",
        "max",
        "--kind",
        "max-oauth",
        "--secret-stdin",
        "--env",
        f"HOSTILE={HOSTILE}",
        "--opus-model",
        "claude-opus-4-8[1m]",
        input=OAT,
    )


def _exec_env(ccgate: Runner, *args: str, env: dict[str, str]) -> dict[str, str]:
    return json.loads(ccgate("exec", *args, "--", *DUMP, env=env).stdout)


@pytest.mark.parametrize("shell", [s for s in REAL_SHELLS if s != "sh"])
def test_exec_environment_equals_use(max_profile: None, ccgate: Runner, shell: str, tmp_path: Path) -> None:
    base = {**os.environ, **DIRTY, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    via_exec = _exec_env(ccgate, "max", env=base)
    code = ccgate("use", "max", "--shell", shell, env=base).stdout
    via_use = eval_in_shell(shell, code, base, cwd=str(tmp_path))
    strip = lambda env: {k: v for k, v in env.items() if k not in SHELL_NOISE}  # noqa: E731
    assert strip(via_exec) == strip(via_use)
    assert via_exec["CLAUDE_CODE_OAUTH_TOKEN"] == OAT and via_exec["HOSTILE"] == HOSTILE
    assert "ANTHROPIC_API_KEY" not in via_exec and via_exec["UNRELATED"] == "kept"
    assert not list(tmp_path.glob("pwned*")) and not list(Path.cwd().glob("pwned*"))


def test_exit_status_passes_through(max_profile: None, ccgate: Runner) -> None:
    assert ccgate("exec", "max", "--", "sh", "-c", "exit 7", check=False).returncode == 7
    assert ccgate("exec", "max", "--sealed", "--", "sh", "-c", "exit 9", check=False).returncode == 9


def test_default_command_is_the_users_shell(max_profile: None, ccgate: Runner) -> None:
    proc = ccgate("exec", "max", env={"SHELL": "/bin/sh"}, input='echo "profile=$CCGATE_PROFILE"\n')
    assert proc.stdout.strip() == "profile=max"


def test_unknown_command_is_a_one_line_error(max_profile: None, ccgate: Runner) -> None:
    proc = ccgate("exec", "max", "--", "no-such-command-xyz", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "ccgate: command not found: no-such-command-xyz"


CHILD = """
import signal, sys
signal.signal(signal.SIGTERM, lambda s, f: (print("got", s, flush=True), sys.exit(0)))
print("ready", flush=True)
signal.pause()
"""


@pytest.mark.parametrize("sealed", [False, True])
def test_sigterm_to_the_process_group_reaches_the_command(max_profile: None, sealed: bool) -> None:
    args = [
        sys.executable,
        "-P",
        "-m",
        "ccgate",
        "exec",
        "max",
        *(["--sealed"] if sealed else []),
        "--",
        sys.executable,
        "-c",
        CHILD,
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "got 15"
    assert proc.returncode == 0


def test_nested_exec_switches_cleanly(max_profile: None, ccgate: Runner) -> None:
    ccgate("profile", "add", "work", "--kind", "api-key", "--secret-stdin", input="sk-ant-api03-work")
    inner = (
        f"{sys.executable} -P -m ccgate exec work -- {sys.executable} -P -m ccgate current; "
        f"{sys.executable} -P -m ccgate exec work -- " + " ".join(DUMP[:3]) + " '" + DUMP[3] + "'"
    )
    proc = ccgate("exec", "max", "--", "sh", "-c", inner)
    current, env_json = proc.stdout.split("\n", 1)
    assert current == "work"
    env = json.loads(env_json)
    assert env["CCGATE_PROFILE"] == "work" and env["ANTHROPIC_API_KEY"] == "sk-ant-api03-work"
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in env and "HOSTILE" not in env


def test_two_claude_logins_side_by_side(ccgate: Runner, ccgate_dirs: Path, tmp_path: Path) -> None:
    ccgate("profile", "add", "work", "--kind", "claude-login", "--own-config-dir")
    ccgate("profile", "add", "home", "--kind", "claude-login", "--config-dir", str(tmp_path / "home-claude"))
    dirty = {v: "x" for v in ("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")}
    envs = {name: _exec_env(ccgate, name, env=dirty) for name in ("work", "home")}
    work_dir = ccgate_dirs / "data" / "claude-config" / "work"
    assert envs["work"]["CLAUDE_CONFIG_DIR"] == str(work_dir)
    assert envs["home"]["CLAUDE_CONFIG_DIR"] == str(tmp_path / "home-claude")
    assert oct(work_dir.stat().st_mode & 0o777) == "0o700"
    for env in envs.values():
        assert not set(dirty) & set(env)
    listed = {r["name"]: r for r in json.loads(ccgate("profile", "list", "--json").stdout)}
    assert listed["work"]["logged_in"] is False
    login = work_dir / ".credentials.json"
    login.write_text('{"claudeAiOauth": {"accessToken": "sk-ant-oat01-SECRETLOGIN"}}')
    listed = {r["name"]: r for r in json.loads(ccgate("profile", "list", "--json").stdout)}
    assert listed["work"]["logged_in"] is True and listed["home"]["logged_in"] is False
    assert "SECRETLOGIN" not in ccgate("profile", "list").stdout + ccgate("profile", "show", "work").stdout
    ccgate("profile", "rm", "work")
    assert login.exists()
    ccgate("profile", "add", "work2", "--kind", "claude-login", "--config-dir", str(work_dir))
    ccgate("profile", "rm", "work2", "--delete-config-dir")
    assert not work_dir.exists()


def test_claude_login_needs_a_config_dir(ccgate: Runner) -> None:
    proc = ccgate("profile", "add", "x", "--kind", "claude-login", check=False)
    assert proc.returncode == 1 and "config dir" in proc.stderr


def test_scrub_option_exports_the_scrub_variable(ccgate: Runner) -> None:
    ccgate(
        "profile", "add", "s", "--kind", "api-key", "--secret-stdin", "--scrub-subprocess-env", input="sk-ant-api03-x"
    )
    env = _exec_env(ccgate, "s", env={})
    assert env["CLAUDE_CODE_SUBPROCESS_ENV_SCRUB"] == "1"
    assert set(MANAGED_VARS) & set(env) == {"ANTHROPIC_API_KEY", "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB"}


def test_sigterm_to_ccgate_alone_is_relayed_once(max_profile: None) -> None:
    args = [sys.executable, "-P", "-m", "ccgate", "exec", "max", "--sealed", "--", sys.executable, "-c", CHILD]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGTERM)  # ccgate's pid only: the command did not get it
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "got 15" and proc.returncode == 0


def test_sealed_exec_revokes_its_handle_when_the_command_ends(max_profile: None, ccgate: Runner) -> None:
    inner = f"{sys.executable} -P -m ccgate sealed list --json"
    during = json.loads(ccgate("exec", "max", "--sealed", "--", "sh", "-c", inner).stdout)
    assert [(h["profile"], h["purpose"]) for h in during] == [("max", "exec")]
    assert json.loads(ccgate("sealed", "list", "--json").stdout) == []
