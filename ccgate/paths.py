"""Where ccgate keeps its files: platformdirs locations, each overridable by a CCGATE_* variable."""

from __future__ import annotations

import os
from pathlib import Path

APP = "ccgate"


def _platform_dir(kind: str) -> Path:
    # platformdirs is imported lazily: `ccgate use` needs only the config dir.
    import platformdirs

    getter = getattr(platformdirs, f"user_{kind}_dir")
    return Path(getter(APP, appauthor=False))


def config_dir() -> Path:
    override = os.environ.get("CCGATE_CONFIG_DIR")
    return Path(override) if override else _platform_dir("config")


def data_dir() -> Path:
    override = os.environ.get("CCGATE_DATA_DIR")
    return Path(override) if override else _platform_dir("data")


def state_dir() -> Path:
    override = os.environ.get("CCGATE_STATE_DIR")
    return Path(override) if override else _platform_dir("state")


def config_file() -> Path:
    return config_dir() / "config.toml"


def usage_db() -> Path:
    return data_dir() / "usage.db"


def secrets_file() -> Path:
    """The plaintext store a person opts into when no keyring works (0600, like gh's)."""
    return data_dir() / "secrets.toml"


def own_config_dir(profile: str) -> Path:
    """A Claude Code config dir ccgate creates for a profile (`--own-config-dir`)."""
    return data_dir() / "claude-config" / profile


def ensure_private_dir(path: Path) -> Path:
    """`path` and every parent ccgate has to create, mode 0700 whatever the umask (mkdir's
    `parents=True` would give the parents 0777 minus the umask: 0777 under umask 000)."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            continue  # created meanwhile by another ccgate
        directory.chmod(0o700)
    return path
