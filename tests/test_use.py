"""`ccgate use`/`off`/`init` through real subprocesses and real shells, for every kind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ccgate.profiles import MANAGED_VARS
from tests.conftest import Runner
from tests.shells import REAL_SHELLS, eval_in_shell

OAT = "sk-ant-oat01-" + "A" * 40
API = "sk-ant-api03-" + "B" * 40
VKEY = "sk-litellm-virtual-" + "C" * 20

# What a shell looks like before switching: a conflicting mix from an earlier setup.
DIRTY = {
    "ANTHROPIC_API_KEY": "sk-ant-api03-old",
    "ANTHROPIC_AUTH_TOKEN": "old-token",
    "CLAUDE_CODE_OAUTH_TOKEN": "sk-ant-oat01-old",
    "ANTHROPIC_BASE_URL": "http://old.example",
    "ANTHROPIC_CUSTOM_HEADERS": "X-Old: 1",
    "ANTHROPIC_MODEL": "old-model",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL": "old-haiku",
    "CCGATE_PROFILE": "old",
    "CCGATE_MANAGED": "OLD_EXTRA",
    "OLD_EXTRA": "1",
    "UNRELATED": "kept",
}


@pytest.fixture
def profiles(ccgate: Runner) -> None:
    ccgate(
        "profile",
        "add",
        "max",
        "--kind",
        "max-oauth",
        "--secret-stdin",
        "--opus-model",
        "claude-opus-4-8[1m]",
        input=OAT + "\n",
    )
    ccgate(
        "profile",
        "add",
        "work",
        "--kind",
        "api-key",
        "--secret-stdin",
        "--model",
        "claude-sonnet-5",
        "--env",
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1",
        input=API,
    )
    ccgate(
        "profile",
        "add",
        "lite",
        "--kind",
        "litellm-key",
        "--secret-stdin",
        "--base-url",
        "https://litellm.internal:4000",
        "--header",
        "X-Team: core",
        input=VKEY,
    )
    ccgate(
        "profile",
        "add",
        "lite-max",
        "--kind",
        "litellm-key",
        "--secret-stdin",
        "--base-url",
        "https://litellm.internal:4000",
        "--via-max",
        "max",
        input=VKEY,
    )


EXPECTED = {
    "max": {
        "CLAUDE_CODE_OAUTH_TOKEN": OAT,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": "claude-opus-4-8[1m]",
        "CCGATE_PROFILE": "max",
    },
    "work": {
        "ANTHROPIC_API_KEY": API,
        "ANTHROPIC_MODEL": "claude-sonnet-5",
        "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS": "1",
        "CCGATE_MANAGED": "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS",
        "CCGATE_PROFILE": "work",
    },
    "lite": {
        "ANTHROPIC_AUTH_TOKEN": VKEY,
        "ANTHROPIC_BASE_URL": "https://litellm.internal:4000",
        "ANTHROPIC_CUSTOM_HEADERS": "X-Team: core",
        "CCGATE_PROFILE": "lite",
    },
    "lite-max": {
        "CLAUDE_CODE_OAUTH_TOKEN": OAT,
        "ANTHROPIC_BASE_URL": "https://litellm.internal:4000",
        "ANTHROPIC_CUSTOM_HEADERS": f"x-litellm-api-key: Bearer {VKEY}",
        "CCGATE_PROFILE": "lite-max",
    },
}
MANAGED = set(MANAGED_VARS) | {
    "CCGATE_PROFILE",
    "CCGATE_MANAGED",
    "OLD_EXTRA",
    "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS",
}


def _base_env(tmp: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp), "TMPDIR": str(tmp)}


def _managed(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k in MANAGED}


@pytest.mark.parametrize("shell", REAL_SHELLS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_use_leaves_exactly_the_profile(profiles: None, ccgate: Runner, shell: str, name: str, tmp_path: Path) -> None:
    code = ccgate("use", name, "--shell", shell, env=DIRTY).stdout
    got = eval_in_shell(shell, code, {**_base_env(tmp_path), **DIRTY}, cwd=str(tmp_path))
    assert _managed(got) == EXPECTED[name]
    assert got["UNRELATED"] == "kept"


@pytest.mark.parametrize("shell", REAL_SHELLS)
def test_off_clears_everything(profiles: None, ccgate: Runner, shell: str, tmp_path: Path) -> None:
    env = {**DIRTY, **EXPECTED["work"]}
    del env["OLD_EXTRA"]  # work's CCGATE_MANAGED no longer names it: not ccgate's any more
    code = ccgate("off", "--shell", shell, env=env).stdout
    got = eval_in_shell(shell, code, {**_base_env(tmp_path), **env}, cwd=str(tmp_path))
    assert _managed(got) == {}
    assert got["UNRELATED"] == "kept"


def test_gate_routes_through_the_forwarder(profiles: None, ccgate: Runner) -> None:
    out = ccgate("use", "max", "--gate", "--shell", "bash").stdout
    # No forwarder runs: the configured port (tests/conftest.py sets CCGATE_PORT).
    assert f"export ANTHROPIC_BASE_URL='http://127.0.0.1:{os.environ['CCGATE_PORT']}/p/max'" in out
    assert f"export CLAUDE_CODE_OAUTH_TOKEN='{OAT}'" in out


def test_shell_is_detected_from_the_parent(profiles: None, tmp_path: Path) -> None:
    import subprocess
    import sys

    cmd = f"{sys.executable} -P -m ccgate use work"
    out = subprocess.run(
        ["fish", "--no-config", "-c", cmd], capture_output=True, text=True, env=os.environ, check=True
    ).stdout
    assert "set -gx ANTHROPIC_API_KEY" in out


@pytest.mark.parametrize("shell", [s for s in REAL_SHELLS if s != "sh"])
def test_init_function_switches_without_eval(profiles: None, shell: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    init = subprocess.run(
        [sys.executable, "-P", "-m", "ccgate", "init", shell], capture_output=True, text=True, check=True
    ).stdout
    (tmp_path / "init").write_text(init)
    dump = f"{sys.executable} -c 'import os; print(os.environ.get(\"ANTHROPIC_API_KEY\"))'"
    if shell == "fish":
        args = ["fish", "--no-config", "-c", f"source {tmp_path}/init; ccgate use work; {dump}"]
    else:
        args = [shell, "-c", f". {tmp_path}/init; ccgate use work; {dump}"]
    out = subprocess.run(args, capture_output=True, text=True, env=os.environ, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == API


def test_init_function_keeps_the_environment_when_use_fails(profiles: None, tmp_path: Path) -> None:
    import subprocess
    import sys

    init = subprocess.run(
        [sys.executable, "-P", "-m", "ccgate", "init", "bash"], capture_output=True, text=True, check=True
    ).stdout
    (tmp_path / "init").write_text(init)
    script = f". {tmp_path}/init; export ANTHROPIC_API_KEY=keep; ccgate use nope; echo rc=$? $ANTHROPIC_API_KEY"
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=os.environ)
    assert out.stdout.strip() == "rc=1 keep"
    assert "no profile named 'nope'" in out.stderr


def test_token_prints_the_bare_secret(profiles: None, ccgate: Runner) -> None:
    assert ccgate("token", "work").stdout == API + "\n"


def test_current_names_profile_and_warns_on_conflicts(profiles: None, ccgate: Runner) -> None:
    clean = ccgate("current", env={"CCGATE_PROFILE": "work", "ANTHROPIC_API_KEY": API})
    assert clean.stdout.strip() == "work" and clean.stderr == ""
    mixed = ccgate("current", env={"CLAUDE_CODE_OAUTH_TOKEN": OAT, "ANTHROPIC_API_KEY": API}, check=False)
    assert mixed.returncode == 3
    assert "CLAUDE_CODE_OAUTH_TOKEN and ANTHROPIC_API_KEY" in mixed.stderr


# --- what `use` leaves alone, and `use` typed at a terminal ------------------------------------

PERSONAL = {"CLAUDE_CONFIG_DIR": "/home/me/.claude-custom", "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB": "1"}


@pytest.mark.parametrize("shell", REAL_SHELLS)
def test_use_and_off_keep_the_persons_own_settings(profiles: None, ccgate: Runner, shell: str, tmp_path: Path) -> None:
    env = {**_base_env(tmp_path), **DIRTY, **PERSONAL}
    for args in (("use", "work"), ("off",)):
        code = ccgate(*args, "--shell", shell, env={**DIRTY, **PERSONAL}).stdout
        got = eval_in_shell(shell, code, env, cwd=str(tmp_path))
        assert {k: got.get(k) for k in PERSONAL} == PERSONAL, args


@pytest.mark.parametrize("shell", REAL_SHELLS)
def test_what_a_profile_set_is_cleared_by_the_next_use_and_by_off(
    profiles: None, ccgate: Runner, shell: str, tmp_path: Path
) -> None:
    ccgate(
        "profile",
        "add",
        "home",
        "--kind",
        "claude-login",
        "--config-dir",
        str(tmp_path / "home"),
        "--scrub-subprocess-env",
    )
    base = {**_base_env(tmp_path), **PERSONAL}
    after_home = eval_in_shell(
        shell, ccgate("use", "home", "--shell", shell, env=PERSONAL).stdout, base, cwd=str(tmp_path)
    )
    assert after_home["CLAUDE_CONFIG_DIR"] == str(tmp_path / "home")
    assert after_home["CCGATE_MANAGED"] == "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB CLAUDE_CONFIG_DIR"
    theirs = {
        k: after_home[k]
        for k in ("CLAUDE_CONFIG_DIR", "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB", "CCGATE_MANAGED", "CCGATE_PROFILE")
    }
    for args in (("use", "work"), ("off",)):
        code = ccgate(*args, "--shell", shell, env=theirs).stdout
        got = eval_in_shell(shell, code, {**base, **theirs}, cwd=str(tmp_path))
        assert "CLAUDE_CONFIG_DIR" not in got and "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB" not in got, args


def test_use_at_a_terminal_prints_how_to_run_it_never_the_secret(profiles: None) -> None:
    import sys

    from tests.terminal import Terminal

    env = {**os.environ, "SHELL": "/bin/bash"}
    term = Terminal.start([sys.executable, "-P", "-m", "ccgate", "use", "max", "--shell", "bash"], env=env)
    assert term.finish() == 2
    shown = term.text()
    assert OAT not in shown and "export" not in shown
    assert 'run: eval "$(ccgate use max)"' in shown and 'eval "$(ccgate init bash)"' in shown
    fish = Terminal.start([sys.executable, "-P", "-m", "ccgate", "use", "max", "--gate", "--shell", "fish"], env=env)
    assert fish.finish() == 2
    assert "run: ccgate use max --gate | source" in fish.text() and OAT not in fish.text()
    off = Terminal.start([sys.executable, "-P", "-m", "ccgate", "off", "--shell", "bash"], env=env)
    assert off.finish() == 2 and 'eval "$(ccgate off)"' in off.text()
