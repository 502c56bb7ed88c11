"""Shell completions: shipped files match the CLI, and real shells complete commands and profile names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPLETIONS = REPO / "completions"
BIN = Path(sys.executable).parent


@pytest.fixture
def env(ccgate) -> dict[str, str]:
    for name in ("work", "wide", "home"):
        ccgate("profile", "add", name, "--kind", "claude-login", "--own-config-dir")
    assert (BIN / "ccgate").exists(), "the ccgate console script (pip install -e .) is needed on PATH"
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def test_shipped_completions_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_completions.py"), "--check"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr


def bash_complete(env: dict[str, str], *words: str) -> list[str]:
    script = (
        f"source {COMPLETIONS / 'ccgate.bash'}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_ccgate_completion ccgate\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    return out.split()


def test_bash_completes_commands_and_profile_names(env: dict[str, str]) -> None:
    assert bash_complete(env, "ccgate", "pro") == ["profile"]
    assert sorted(bash_complete(env, "ccgate", "use", "w")) == ["wide", "work"]
    assert bash_complete(env, "ccgate", "exec", "h") == ["home"]
    assert sorted(bash_complete(env, "ccgate", "profile", "show", "")) == ["home", "wide", "work"]


def test_fish_completes_profile_names(env: dict[str, str]) -> None:
    script = f"source {COMPLETIONS / 'ccgate.fish'}; complete -C 'ccgate use w'"
    out = subprocess.run(["fish", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == ["wide", "work"]


def test_zsh_script_parses_and_its_protocol_answers(env: dict[str, str]) -> None:
    subprocess.run(["zsh", "-n", str(COMPLETIONS / "_ccgate")], check=True)
    out = subprocess.run(
        ["ccgate"],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "_CCGATE_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "ccgate use w"},
    ).stdout
    assert '"wide"' in out and '"work"' in out and '"home"' not in out
