"""Rendering environment changes as shell code, quoted so that no value can run code.

Each shell gets `render(changes)` where a value of None means unset. Every statement is
on one line: values with control characters use the shell's escape syntax rather than
raw newlines, so the output survives `eval "$(…)"`, fish's `| source` and line-splitting
command substitutions alike.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from ccgate.errors import UsageError

Changes = Mapping[str, str | None]
SHELLS = ("bash", "zsh", "fish", "powershell", "sh")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"refusing to render variable name {name!r}")
    return name


# --- POSIX shells (bash, zsh) ---------------------------------------------------------


def posix_quote(value: str) -> str:
    """Single quotes keep every byte literal; $'…' only when control characters need escapes."""
    if not _CONTROL.search(value):
        return "'" + value.replace("'", "'\\''") + "'"
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif _CONTROL.fullmatch(ch):
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def sh_quote(value: str) -> str:
    """Plain POSIX sh (dash) has no $'…': single quotes, raw newlines and all."""
    return "'" + value.replace("'", "'\\''") + "'"


def _render_exports(changes: Changes, quote: Callable[[str], str]) -> str:
    lines = []
    for name, value in changes.items():
        _check_name(name)
        lines.append(f"unset {name}" if value is None else f"export {name}={quote(value)}")
    return "\n".join(lines) + "\n"


def render_posix(changes: Changes) -> str:
    return _render_exports(changes, posix_quote)


def render_sh(changes: Changes) -> str:
    return _render_exports(changes, sh_quote)


# --- fish ---------------------------------------------------------------------------------


def fish_quote(value: str) -> str:
    """fish single quotes know only \\' and \\\\; control characters go outside the quotes."""
    parts: list[str] = []
    buf: list[str] = []
    for ch in value:
        if _CONTROL.fullmatch(ch):
            if buf:
                parts.append("'" + "".join(buf) + "'")
                buf = []
            parts.append(f"\\x{ord(ch):02x}")
        elif ch in ("\\", "'"):
            buf.append("\\" + ch)
        else:
            buf.append(ch)
    if buf or not parts:
        parts.append("'" + "".join(buf) + "'")
    return "".join(parts)


def render_fish(changes: Changes) -> str:
    lines = []
    for name, value in changes.items():
        _check_name(name)
        if value is None:
            # `set -e` of an unset variable fails (status 4); keep `… | source; and claude` working.
            lines.append(f"set -e -g {name}; or true")
        else:
            lines.append(f"set -gx {name} {fish_quote(value)}")
    return "\n".join(lines) + "\n"


# --- PowerShell ---------------------------------------------------------------------------

# PowerShell treats the typographic single quotes as quote characters too.
_PS_QUOTES = "'\u2018\u2019\u201a\u201b"


def powershell_quote(value: str) -> str:
    if not _CONTROL.search(value):
        return "'" + "".join(ch * 2 if ch in _PS_QUOTES else ch for ch in value) + "'"
    # Double-quoted strings expand `$` and backticks; escape both, and encode controls.
    out = []
    for ch in value:
        if ch in '`$"\u201c\u201d\u201e':
            out.append("`" + ch)
        elif _CONTROL.fullmatch(ch):
            out.append(f"$([char]0x{ord(ch):02x})")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_powershell(changes: Changes) -> str:
    lines = []
    for name, value in changes.items():
        _check_name(name)
        if value is None:
            lines.append(f"Remove-Item -ErrorAction SilentlyContinue Env:{name}")
        else:
            lines.append(f"$Env:{name} = {powershell_quote(value)}")
    return "\n".join(lines) + "\n"


RENDERERS: dict[str, Callable[[Changes], str]] = {
    "bash": render_posix,
    "zsh": render_posix,
    "fish": render_fish,
    "powershell": render_powershell,
    "sh": render_sh,
}


def render(shell: str, changes: Changes) -> str:
    return RENDERERS[normalize(shell)](changes)


def normalize(shell: str) -> str:
    """`-zsh`, `/usr/bin/fish`, `pwsh.exe` → a name of SHELLS (login dash and path stripped)."""
    name = Path(shell.strip()).name.lstrip("-").lower().removesuffix(".exe")
    if name in ("pwsh", "powershell"):
        return "powershell"
    if name in ("dash", "ksh", "mksh", "ash", "busybox"):
        return "sh"
    if name in SHELLS:
        return name
    raise UsageError(f"unsupported shell {shell!r}: choose one of {', '.join(SHELLS)}")


def detect() -> str:
    """The shell that will read our output: our parent process, else $SHELL, else bash."""
    for candidate in (_parent_process_name(), os.environ.get("SHELL", "")):
        if candidate:
            try:
                return normalize(candidate)
            except UsageError:
                continue
    return "bash"


def _parent_process_name() -> str:
    if not sys.platform.startswith("linux"):
        return ""
    try:
        return Path(f"/proc/{os.getppid()}/comm").read_text().strip()
    except OSError:
        return ""


# --- `ccgate init SHELL`: a function so that `ccgate use NAME` needs no eval ----------------


def init_script(shell: str, command: list[str]) -> str:
    """direnv/pyenv style: the function evals the output of the subcommands that change the
    environment (`use`, `off`) and passes everything else through."""
    shell = normalize(shell)
    if shell == "fish":
        exe = " ".join(fish_quote(c) for c in command)
        return _FISH_INIT.replace("@CCGATE@", exe)
    if shell == "powershell":
        exe = " ".join(powershell_quote(c) for c in command)
        return _PS_INIT.replace("@CCGATE@", exe)
    if shell == "sh":
        raise UsageError("`ccgate init` supports bash, zsh, fish and powershell")
    exe = " ".join(posix_quote(c) for c in command)
    return _POSIX_INIT.replace("@CCGATE@", exe)


_POSIX_INIT = """\
ccgate() {
  case "$1" in
    use|off)
      case " $* " in *" -h "*|*" --help "*) command @CCGATE@ "$@"; return;; esac
      local __ccgate_out
      __ccgate_out="$(command @CCGATE@ "$@")" || return $?
      eval "$__ccgate_out"
      ;;
    *) command @CCGATE@ "$@";;
  esac
}
"""

_FISH_INIT = """\
function ccgate
  switch "$argv[1]"
    case use off
      if contains -- --help $argv; or contains -- -h $argv
        command @CCGATE@ $argv
        return
      end
      set -l __ccgate_out (command @CCGATE@ $argv --shell fish | string collect)
      or return $status
      echo $__ccgate_out | source
    case '*'
      command @CCGATE@ $argv
  end
end
"""

_PS_INIT = """\
function ccgate {
  if ($args.Count -gt 0 -and ($args[0] -eq 'use' -or $args[0] -eq 'off') -and -not ($args -contains '--help')) {
    $out = & @CCGATE@ @args --shell powershell
    if ($LASTEXITCODE -eq 0) { $out | Out-String | Invoke-Expression }
  } else {
    & @CCGATE@ @args
  }
}
"""
