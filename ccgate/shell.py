"""Rendering environment changes as shell code, quoted so that no value can run code.

Each shell gets `render(changes)` where a value of None means unset. Every statement is
on one line: values with control characters use the shell's escape syntax rather than
raw newlines, so the output survives `eval "$(…)"`, fish's `| source` and line-splitting
command substitutions alike.

The output is plain ASCII whatever the values hold (dash's form aside, see `sh_quote`):
every byte of a non-ASCII character is written as an escape. A shell reading in another
encoding than ccgate's (BIG5, GBK, Shift-JIS, a Windows code page) would otherwise read a
UTF-8 byte and the backslash or quote after it as one character, and the quoting would end
early.
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
_UNSAFE = re.compile(r"[^\x20-\x7e]")


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"refusing to render variable name {name!r}")
    return name


# --- POSIX shells (bash, zsh) ---------------------------------------------------------


def _escapes_needed(value: str) -> bool:
    """Anything but printable ASCII: control characters and every non-ASCII character."""
    return _UNSAFE.search(value) is not None


def _byte_escapes(ch: str, form: str) -> str:
    """`ch` as its UTF-8 bytes, each written with `form` (e.g. "\\x{:02x}")."""
    return "".join(form.format(b) for b in ch.encode("utf-8", "surrogateescape"))


def posix_quote(value: str) -> str:
    """Single quotes keep every byte literal; $'…' with byte escapes when anything is not printable ASCII."""
    if not _escapes_needed(value):
        return "'" + value.replace("'", "'\\''") + "'"
    out = []
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif _UNSAFE.fullmatch(ch):
            out.append(_byte_escapes(ch, "\\x{:02x}"))
        else:
            out.append(ch)
    return "$'" + "".join(out) + "'"


def sh_quote(value: str) -> str:
    """Plain POSIX sh (dash) has no $'…': single quotes, raw newlines and all. Inside single
    quotes only the closing quote means anything, and no multibyte encoding has 0x27 as a
    trailing byte, so non-ASCII bytes stay inside the quotes in any encoding."""
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
    """fish single quotes know only \\' and \\\\; everything but printable ASCII goes outside the
    quotes as byte escapes (\\xHH for ASCII controls, \\XHH for the bytes of other characters)."""
    parts: list[str] = []
    buf: list[str] = []
    for ch in value:
        if _UNSAFE.fullmatch(ch):
            if buf:
                parts.append("'" + "".join(buf) + "'")
                buf = []
            parts.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else _byte_escapes(ch, "\\X{:02x}"))
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


def powershell_quote(value: str) -> str:
    if not _escapes_needed(value):
        return "'" + value.replace("'", "''") + "'"
    # Double-quoted strings expand `$` and backticks; escape both, and write every character
    # that is not printable ASCII (controls, the typographic quotes PowerShell also honours,
    # anything a code page could misread) as its code point.
    out = []
    for ch in value:
        if ch in '`$"':
            out.append("`" + ch)
        elif _UNSAFE.fullmatch(ch):
            code = ord(ch)
            out.append(f"$([char]0x{code:04x})" if code <= 0xFFFF else f"$([char]::ConvertFromUtf32(0x{code:x}))")
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
