"""The TAB that happens most, `ccgate use <TAB>`, answered without typer.

The completion scripts in completions/ run `ccgate` with _CCGATE_COMPLETE set (typer's protocol).
Importing typer and every command module costs most of a TAB; for the positions where the
answer is a profile name, this module reads config.toml and prints the reply in the exact shape
typer would (tests/test_completions.py compares the two). Anything else returns None and the
full CLI answers.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

COMPLETE_VAR = "_CCGATE_COMPLETE"  # also in cli/main.py, which this module must not import
# Commands whose next word is a profile name.
PROFILE_POSITIONS = frozenset(
    {
        ("use",),
        ("exec",),
        ("token",),
        ("profile", "show"),
        ("profile", "edit"),
        ("profile", "rm"),
        ("profile", "rename"),
        ("profile", "default"),
    }
)


def reply(env: Mapping[str, str] = os.environ) -> tuple[str | None, int] | None:
    """(what to print, if anything; exit status) for a profile-name position; None for the full CLI."""
    shell = env.get(COMPLETE_VAR, "").removeprefix("complete_")
    try:
        words = _words(shell, env)
    except ValueError:  # an unfinished quote: the full CLI knows how typer treats it
        return None
    if words is None:
        return None
    args, incomplete = words
    if tuple(args) not in PROFILE_POSITIONS or incomplete.startswith("-"):
        return None
    names = _profile_names(incomplete)
    if shell == "bash":
        return "\n".join(names), 0
    if shell == "zsh":
        if not names:
            return "_files", 0
        # Profile names are [a-z0-9._-]: nothing in them needs zsh's escapes.
        quoted = "\n".join(f'"{name}"' for name in names)
        return f"_arguments '*: :(({quoted}))'", 0
    if env.get("_TYPER_COMPLETE_FISH_ACTION") == "is-args":
        return None, 0 if names else 1  # fish only asks whether there are candidates
    return "\n".join(names), 0


def _words(shell: str, env: Mapping[str, str]) -> tuple[list[str], str] | None:
    if shell == "bash":
        words = shlex.split(env.get("COMP_WORDS", ""))
        cword = int(env.get("COMP_CWORD", "0") or 0)
        return words[1:cword], words[cword] if cword < len(words) else ""
    if shell in ("zsh", "fish"):
        line = env.get("_TYPER_COMPLETE_ARGS", "")
        words = shlex.split(line)[1:]
        if words and not line.endswith(" "):
            return words[:-1], words[-1]
        return words, ""
    return None


def _profile_names(incomplete: str) -> list[str]:
    from ccgate.config import load_config
    from ccgate.errors import CcgateError

    try:
        return sorted(name for name in load_config().profiles if name.startswith(incomplete))
    except CcgateError:
        return []
