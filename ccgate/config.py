"""config.toml: ccgate's settings and profiles, never a secret.

The file is read with tomllib and written with tomli-w, atomically and mode 0600.
Hand edits are welcome: unknown keys are kept when ccgate rewrites the file, and a
file that does not parse is reported (file and line) and never overwritten.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccgate import paths
from ccgate.errors import ConfigError
from ccgate.fileio import write_private

DEFAULT_HOST = "127.0.0.1"
# Clear of LiteLLM (4000), claude-code-router (3456) and the usual 8080/8000/3000.
DEFAULT_PORT = 7421
DEFAULT_MAX_BODY_MIB = 64
DEFAULT_IDLE_TIMEOUT_S = 600.0
# Overrides settings.port (and is overridden by `--port`): a second ccgate with its own
# CCGATE_*_DIR directories, e.g. a test suite, listens and looks for its forwarder there.
PORT_ENV = "CCGATE_PORT"


@dataclass(slots=True)
class Settings:
    default_profile: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_mib: int = DEFAULT_MAX_BODY_MIB
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    allowed_origins: list[str] = field(default_factory=list)
    # "keyring" (default) or "file": the 0600 plaintext store a person opted into.
    secret_store: str = "keyring"
    plan_monthly_usd: float | None = None
    sealed_ttl_days: float = 30.0


_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "default_profile": (str,),
    "host": (str,),
    "port": (int,),
    "max_body_mib": (int,),
    "idle_timeout_s": (int, float),
    "allowed_origins": (list,),
    "secret_store": (str,),
    "plan_monthly_usd": (int, float),
    "sealed_ttl_days": (int, float),
}


class Config:
    """The parsed file: `settings`, raw profile tables and price overrides.

    Profiles stay raw dicts here; `ccgate.profiles` turns them into Profile objects.
    """

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.settings = _parse_settings(path, data.get("settings", {}))

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        return self.data.setdefault("profiles", {})

    @property
    def prices(self) -> dict[str, dict[str, Any]]:
        return dict(self.data.get("prices", {}))

    def set_setting(self, key: str, value: Any) -> None:
        table = self.data.setdefault("settings", {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
        self.settings = _parse_settings(self.path, table)

    def save(self) -> None:
        import tomli_w

        write_private(self.path, tomli_w.dumps(_drop_empty(self.data)).encode())


def load_config(path: Path | None = None) -> Config:
    path = path or paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path, {})
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; fix or remove the file") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line N, column M)".
        raise ConfigError(f"{path}: {exc}; fix the file by hand (ccgate will not overwrite it)") from None
    if not isinstance(data.get("profiles", {}), dict):
        raise ConfigError(f"{path}: [profiles] must be a table")
    return Config(path, data)


def _parse_settings(path: Path, table: Any) -> Settings:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [settings] must be a table")
    settings = Settings()
    for key, value in table.items():
        expected = _SETTING_TYPES.get(key)
        if expected is None:
            continue  # unknown keys are kept in the file for newer versions
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{path}: settings.{key} has the wrong type ({type(value).__name__})")
        setattr(settings, key, value)
    if settings.secret_store not in ("keyring", "file"):
        raise ConfigError(f'{path}: settings.secret_store must be "keyring" or "file"')
    if env_port := os.environ.get(PORT_ENV):
        settings.port = _port_from_env(env_port)
    return settings


def _port_from_env(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"{PORT_ENV}={text!r}: expected a port number from 1 to 65535")
    return port


def _drop_empty(value: Any) -> Any:
    """TOML has no null: drop None values and empty sub-tables left by edits."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            cleaned = _drop_empty(v)
            if isinstance(cleaned, dict) and not cleaned and k not in ("profiles",):
                continue
            out[k] = cleaned
        return out
    return value
