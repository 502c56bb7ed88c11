"""config.toml: ccgate's settings and profiles, never a secret.

The file is read with tomllib (fast: `ccgate use` reads it in every shell) and rewritten with
tomlkit, which keeps the person's comments, blank lines and key order; only the keys ccgate
changed move. Hand edits are welcome: unknown keys are kept, and a file that does not parse is
reported (file and line) and never overwritten. Writes are atomic and mode 0600.

Several ccgate processes may change the file at once (`profile add` in two terminals): every
read-modify-write runs inside `editing()`, which holds a lock file beside config.toml and reads
the file afresh under it, so no change is lost.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ccgate import paths
from ccgate.errors import ConfigError, UsageError
from ccgate.fileio import write_private
from ccgate.locks import lock_file_for, locked

DEFAULT_HOST = "127.0.0.1"
# Clear of LiteLLM (4000), claude-code-router (3456) and the usual 8080/8000/3000.
DEFAULT_PORT = 7421
DEFAULT_MAX_BODY_MIB = 64
DEFAULT_IDLE_TIMEOUT_S = 600.0
PORT_RANGE = (1, 65535)
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
    # A connection with no complete request head (idle keep-alive, a head trickled in) is closed
    # after this long, and a request body that stops arriving after body_idle_timeout_s.
    keepalive_timeout_s: float = 60.0
    body_idle_timeout_s: float = 60.0
    allowed_origins: list[str] = field(default_factory=list)
    # "keyring" (default) or "file": the 0600 plaintext store a person opted into.
    secret_store: str = "keyring"
    plan_monthly_usd: float | None = None
    sealed_ttl_days: float = 30.0
    # The ledger (README "The whole ledger"): Claude Code's transcripts are read while `serve` runs
    # and before `ccgate stats` when no forwarder does; this machine's name on exported rows.
    import_while_serving: bool = True
    import_before_stats: bool = True
    machine_name: str | None = None
    # Alerts (ccgate/alerts.py): a command that gets each alert as JSON on stdin (a string runs
    # through /bin/sh, a list is the argv), and whether a desktop notification is shown too.
    alert_command: str | list[str] | None = None
    desktop_notifications: bool = True


class Rule(NamedTuple):
    """What one setting accepts: its types and, for numbers, an inclusive range."""

    types: tuple[type, ...]
    low: float | None = None
    high: float | None = None
    hint: str = ""


# The ranges keep every value meaningful: max_body_mib = 0 would mean "no limit" to aiohttp,
# a port above 65535 wraps around in the resolver, a TTL of 0 would expire handles at once.
RULES: dict[str, Rule] = {
    "default_profile": Rule((str,)),
    "host": Rule((str,)),
    "port": Rule((int,), *PORT_RANGE),
    "max_body_mib": Rule((int,), 1, 4096, "MiB a request body may have"),
    "idle_timeout_s": Rule((int, float), 1, 86400, "seconds a stream may stay silent"),
    "keepalive_timeout_s": Rule((int, float), 1, 86400, "seconds a connection may wait for a request head"),
    "body_idle_timeout_s": Rule((int, float), 1, 86400, "seconds a request body may stop arriving"),
    "allowed_origins": Rule((list,)),
    "secret_store": Rule((str,)),
    "plan_monthly_usd": Rule((int, float), 0, 1_000_000),
    "sealed_ttl_days": Rule((int, float), 1 / 24, 3650, "days a sealed handle lives unused"),
    "import_while_serving": Rule((bool,)),
    "import_before_stats": Rule((bool,)),
    "machine_name": Rule((str,)),
    "alert_command": Rule((str, list)),
    "desktop_notifications": Rule((bool,)),
}
SECRET_STORES = ("keyring", "file")


def check_port(port: int, source: str) -> int:
    """A TCP port a forwarder can listen on: 1-65535 (0 would pick a random one)."""
    low, high = PORT_RANGE
    if not low <= port <= high:
        raise UsageError(f"{source} {port} is not a port: use {low}-{high}")
    return port


class Config:
    """The parsed file: `settings`, raw profile tables and price overrides.

    Profiles stay raw dicts here; `ccgate.profiles` turns them into Profile objects.
    """

    def __init__(self, path: Path, data: dict[str, Any], text: str = "") -> None:
        self.path = path
        self.data = data
        self.text = text  # what was read, so a rewrite can keep its comments and order
        self.settings = _parse_settings(path, data.get("settings", {}))

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        profiles: dict[str, dict[str, Any]] = self.data.setdefault("profiles", {})
        return profiles

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
        """Write the file back, changing only what differs from what was read."""
        import tomlkit

        document = tomlkit.parse(self.text) if self.text.strip() else tomlkit.document()
        _sync(document, _drop_empty(self.data))
        text = tomlkit.dumps(document)
        write_private(self.path, text.encode())
        self.text = text


def load_config(path: Path | None = None) -> Config:
    path = path or paths.config_file()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path, {})
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; fix or remove the file") from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line N, column M)".
        raise ConfigError(f"{path}: {exc}; fix the file by hand (ccgate will not overwrite it)") from None
    except RecursionError:
        raise ConfigError(f"{path}: arrays or tables nested too deeply; fix the file by hand") from None
    if not isinstance(data.get("profiles", {}), dict):
        raise ConfigError(f"{path}: [profiles] must be a table")
    return Config(path, data, text)


@contextmanager
def editing(path: Path | None = None) -> Iterator[Config]:
    """The config, read under the lock that every writer holds until it has saved.

    Callers save inside the block; whatever they read here is what they write back over.
    """
    path = path or paths.config_file()
    with locked(lock_file_for(path)):
        yield load_config(path)


def _parse_settings(path: Path, table: Any) -> Settings:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [settings] must be a table")
    settings = Settings()
    for key, value in table.items():
        rule = RULES.get(key)
        if rule is None:
            continue  # unknown keys are kept in the file for newer versions
        setattr(settings, key, _checked(path, key, value, rule))
    if settings.secret_store not in SECRET_STORES:
        raise ConfigError(f'{path}: settings.secret_store must be "keyring" or "file"; fix the file')
    if not settings.host.strip():
        raise ConfigError(f"{path}: settings.host is empty; use an address such as 127.0.0.1")
    if not all(isinstance(origin, str) for origin in settings.allowed_origins):
        raise ConfigError(f"{path}: settings.allowed_origins must be a list of strings")
    command = settings.alert_command
    if isinstance(command, list) and not (command and all(isinstance(arg, str) for arg in command)):
        raise ConfigError(f"{path}: settings.alert_command must be a command line or a list of its words; fix the file")
    if isinstance(command, str) and not command.strip():
        settings.alert_command = None
    if env_port := os.environ.get(PORT_ENV):
        settings.port = _port_from_env(env_port)
    return settings


def _port_from_env(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not PORT_RANGE[0] <= port <= PORT_RANGE[1]:
        raise ConfigError(f"{PORT_ENV}={text!r}: expected a port number from 1 to 65535")
    return port


def _checked(path: Path, key: str, value: Any, rule: Rule) -> Any:
    if not isinstance(value, rule.types) or (isinstance(value, bool) and bool not in rule.types):
        wanted = "a number" if float in rule.types else _TYPE_NAMES[rule.types[0]]
        raise ConfigError(f"{path}: settings.{key} must be {wanted}, not {_shown(value)}; fix the file")
    if rule.low is None or rule.high is None:
        return value
    number = float(value) if isinstance(value, (int, float)) else math.nan
    if not math.isfinite(number) or not rule.low <= number <= rule.high:
        what = f" ({rule.hint})" if rule.hint else ""
        raise ConfigError(
            f"{path}: settings.{key} = {_shown(value)} is out of range{what}: use {_num(rule.low)}-{_num(rule.high)}"
        )
    return value


_TYPE_NAMES = {str: "a string", int: "a whole number", list: "a list", bool: "true or false"}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _num(value: float) -> str:
    return f"{value:g}"


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


def _sync(target: MutableMapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Make the tomlkit container `target` hold `wanted`, touching only keys whose values differ.

    Keys that stay keep their place and comments; new keys go at the end of their table.
    """
    for key in [k for k in target if k not in wanted]:
        del target[key]
    for key, value in wanted.items():
        current = target.get(key)
        if isinstance(value, dict) and not value and key not in target:
            continue  # no empty [profiles] header for a file that never had one
        if isinstance(value, dict) and isinstance(current, MutableMapping):
            _sync(current, value)
        elif key not in target:
            _add_after_last_value(target, key, value)
        elif _plain(current) != value:
            target[key] = value


def _add_after_last_value(target: MutableMapping[str, Any], key: str, value: Any) -> None:
    """A new key goes right after the table's last key, above the comments that precede the next
    table (tomlkit itself would append it below them, under the next table's comment)."""
    last = next((k for k in reversed(list(target)) if not isinstance(target[k], MutableMapping)), None)
    container = getattr(target, "value", target)  # a Table wraps a Container; a document is one
    insert_after = getattr(container, "_insert_after", None)
    if last is None or isinstance(value, dict) or not callable(insert_after):
        target[key] = value
        return
    import tomlkit

    insert_after(last, key, tomlkit.item(value))


def _plain(item: Any) -> Any:
    unwrap = getattr(item, "unwrap", None)
    return unwrap() if callable(unwrap) else item
