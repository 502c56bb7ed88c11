"""Small helpers the command modules share: loading config, reading a secret, JSON output."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from ccgate.config import Config, load_config
from ccgate.errors import CcgateError, UsageError
from ccgate.secrets import SecretStore, open_store


def load() -> Config:
    return load_config()


def store_for(config: Config) -> SecretStore:
    return open_store(config.settings)


def read_secret(from_stdin: bool, label: str) -> str:
    """A secret from stdin or a hidden prompt, never from argv (it would land in shell history)."""
    if from_stdin:
        secret = sys.stdin.read().strip()
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to prompt for the secret; pipe it in with --secret-stdin")
        import getpass

        secret = getpass.getpass(f"{label}: ").strip()
    if not secret:
        raise UsageError("empty secret: nothing stored")
    if any(ch in secret for ch in "\r\n\x00"):
        raise UsageError("the secret contains a line break or NUL: paste it on one line")
    return secret


def warn(message: str) -> None:
    print(f"ccgate: warning: {message}", file=sys.stderr)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def active_profile() -> str | None:
    return os.environ.get("CCGATE_PROFILE") or None


def complete_profile(incomplete: str) -> list[str]:
    """Shell completion for profile names, read from config.toml (never from the keyring)."""
    try:
        return sorted(name for name in load().profiles if name.startswith(incomplete))
    except CcgateError:
        return []
