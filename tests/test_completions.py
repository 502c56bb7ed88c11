"""Shell completions: shipped files match the CLI, and real shells complete commands and profile names."""

from __future__ import annotations

import os
import re
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


def test_zsh_completes_profile_names(env: dict[str, str], tmp_path: Path) -> None:
    # compinit loads the completion system; _arguments is replaced by a recorder so the test sees
    # exactly the candidates the script hands to zsh.
    script = f"""
autoload -Uz compinit && compinit -u -d {tmp_path / "zcompdump"}
source {COMPLETIONS / "_ccgate"}
_arguments() {{ print -rl -- "$@" }}
words=(ccgate use w); CURRENT=3; _ccgate_completion
words=(ccgate pro); CURRENT=2; _ccgate_completion
"""
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    names, commands = out.splitlines()
    assert re.findall(r'"(\w+)"', names) == ["wide", "work"]
    assert commands.startswith('*: :(("profile":')


BY = [
    "day",
    "week",
    "month",
    "hour",
    "model",
    "profile",
    "session",
    "account",
    "project",
    "machine",
    "billing",
    "agent",
]
VALUE_CASES = [
    (("ccgate", "stats", "--by", ""), BY),
    (("ccgate", "stats", "--by", "m"), ["month", "model", "machine"]),
    (("ccgate", "profile", "add", "x", "--kind", ""), ["max-oauth", "api-key", "litellm-key", "claude-login"]),
    (("ccgate", "use", "work", "--shell", "f"), ["fish"]),
    (("ccgate", "init", "p"), ["powershell"]),
    (("ccgate", "service", "install", "--kind", ""), ["systemd", "launchd"]),
    (("ccgate", "stats", "--tz", "Europe/Ber"), ["Europe/Berlin"]),
    (("ccgate", "stats", "blocks", "--tz", "UT"), ["UTC"]),
]


@pytest.mark.parametrize(("words", "expected"), VALUE_CASES)
def test_bash_completes_option_values(env: dict[str, str], words: tuple[str, ...], expected: list[str]) -> None:
    assert bash_complete(env, *words) == expected


@pytest.mark.parametrize(("words", "expected"), VALUE_CASES)
def test_fish_completes_option_values(env: dict[str, str], words: tuple[str, ...], expected: list[str]) -> None:
    line = " ".join(words)
    script = f"source {COMPLETIONS / 'ccgate.fish'}; complete -C {line!r}"
    out = subprocess.run(["fish", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    assert sorted(line.split("\t")[0] for line in out.splitlines()) == sorted(expected)


def test_zsh_completes_option_values(env: dict[str, str], tmp_path: Path) -> None:
    script = f"""
autoload -Uz compinit && compinit -u -d {tmp_path / "zcompdump"}
source {COMPLETIONS / "_ccgate"}
_arguments() {{ print -rl -- "$@" }}
words=(ccgate stats --by m); CURRENT=4; _ccgate_completion
words=(ccgate use work --shell z); CURRENT=5; _ccgate_completion
"""
    out = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, env=env, check=True).stdout
    by, shell = out.splitlines()
    assert re.findall(r'"([\w-]+)"', by) == ["month", "model", "machine"]
    assert re.findall(r'"([\w-]+)"', shell) == ["zsh"]


def _complete_via(module: str, env: dict[str, str]) -> tuple[str, int, bool]:
    """(stdout, status, whether typer was imported) of one completion request through `module`."""
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('TYPER=' + str('typer' in sys.modules), file=sys.stderr))\n"
        f"sys.argv = ['ccgate']\nfrom {module} import main\nmain()\n"
    )
    proc = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, env=env)
    return proc.stdout, proc.returncode, "TYPER=True" in proc.stderr


PROFILE_REQUESTS = [
    {"_CCGATE_COMPLETE": "complete_bash", "COMP_WORDS": "ccgate use w", "COMP_CWORD": "2"},
    {"_CCGATE_COMPLETE": "complete_bash", "COMP_WORDS": "ccgate profile show ", "COMP_CWORD": "3"},
    {"_CCGATE_COMPLETE": "complete_bash", "COMP_WORDS": "ccgate exec nothing", "COMP_CWORD": "2"},
    {"_CCGATE_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "ccgate use w"},
    {"_CCGATE_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "ccgate token zz"},
    {
        "_CCGATE_COMPLETE": "complete_fish",
        "_TYPER_COMPLETE_ARGS": "ccgate use ",
        "_TYPER_COMPLETE_FISH_ACTION": "get-args",
    },
    {
        "_CCGATE_COMPLETE": "complete_fish",
        "_TYPER_COMPLETE_ARGS": "ccgate use ",
        "_TYPER_COMPLETE_FISH_ACTION": "is-args",
    },
    {
        "_CCGATE_COMPLETE": "complete_fish",
        "_TYPER_COMPLETE_ARGS": "ccgate use q",
        "_TYPER_COMPLETE_FISH_ACTION": "is-args",
    },
]


@pytest.mark.parametrize("request_env", PROFILE_REQUESTS)
def test_profile_names_are_completed_without_typer_exactly_as_typer_would(
    env: dict[str, str], request_env: dict[str, str]
) -> None:
    full_env = {**env, **request_env}
    fast = _complete_via("ccgate.cli.entry", full_env)
    full = _complete_via("ccgate.cli.main", full_env)
    assert fast[:2] == full[:2]
    assert (fast[2], full[2]) == (False, True)


def test_other_positions_still_get_the_full_cli(env: dict[str, str]) -> None:
    request = {**env, "_CCGATE_COMPLETE": "complete_bash", "COMP_WORDS": "ccgate use work --sh", "COMP_CWORD": "3"}
    out, code, typer_loaded = _complete_via("ccgate.cli.entry", request)
    assert (out, code, typer_loaded) == ("--shell\n", 0, True)
