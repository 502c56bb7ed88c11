"""Small helpers the command modules share: loading config, reading a secret, JSON output."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import typer

from ccgate.config import Config, load_config
from ccgate.errors import CcgateError, UsageError
from ccgate.secrets import SecretStore, open_store, secret_from_text


def load() -> Config:
    return load_config()


def store_for(config: Config) -> SecretStore:
    return open_store(config.settings)


def read_secret(from_stdin: bool, label: str) -> str:
    """A secret from stdin or a hidden prompt, never from argv (it would land in shell history).

    Piped text may be a whole `claude setup-token` output: its one token is taken.
    """
    if from_stdin:
        try:
            secret = secret_from_text(sys.stdin.read())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        secret = _prompt_hidden(label)
    if not secret:
        raise UsageError("empty secret: nothing stored")
    if any(ch in secret for ch in "\r\n\x00"):
        raise UsageError("the secret contains a line break or NUL: paste it on one line")
    return secret


def _prompt_hidden(label: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError("no terminal to prompt for the secret; pipe it in with --secret-stdin")
    import getpass

    try:
        return getpass.getpass(f"{label}: ").strip()
    except EOFError:  # Ctrl-D
        print(file=sys.stderr)
        raise UsageError("no secret entered (Ctrl-D): nothing stored") from None
    except KeyboardInterrupt:  # Ctrl-C: the shell's convention, without click's "Aborted!"
        print(file=sys.stderr)
        raise SystemExit(130) from None


def warn(message: str) -> None:
    print(f"ccgate: warning: {message}", file=sys.stderr)


def print_json(value: Any) -> None:
    from ccgate.reports.render import to_json

    print(to_json(value, ascii_only=not stdout_is_unicode()))


def stdout_is_unicode() -> bool:
    """Whether stdout can carry any character (not so under the C locale): JSON escapes otherwise."""
    return (sys.stdout.encoding or "").lower().replace("-", "") in ("utf8", "utf16", "utf32")


def active_profile() -> str | None:
    return os.environ.get("CCGATE_PROFILE") or None


def choices(values: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Shell completion for an option with fixed values."""
    return lambda incomplete: [value for value in values if value.startswith(incomplete)]


def complete_tz(incomplete: str) -> list[str]:
    """IANA zone names (and UTC) starting with what was typed."""
    import zoneinfo

    return sorted(name for name in zoneinfo.available_timezones() | {"UTC"} if name.startswith(incomplete))


def complete_profile(incomplete: str) -> list[str]:
    """Shell completion for profile names, read from config.toml (never from the keyring)."""
    try:
        return sorted(name for name in load().profiles if name.startswith(incomplete))
    except CcgateError:
        return []


GateOpt = typer.Option(False, "--gate", help="Route through the local forwarder (ccgate serve).")
SealedOpt = typer.Option(
    False,
    "--sealed",
    help="Export a local handle instead of the secret; only the forwarder can use it (implies --gate).",
)
