"""Where Claude Code writes its transcripts, found without loading the importer (usage/ledger.py):
`ccgate stats` asks before every report, and where there is nothing to read it never loads it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple


class Root(NamedTuple):
    """A Claude Code `projects/` directory and the profile whose config dir it is (None: not ccgate's)."""

    path: Path
    profile: str | None


def default_roots(profile_dirs: Mapping[str, str], env: Mapping[str, str]) -> list[Root]:
    """Where Claude Code writes transcripts: ~/.claude, $CLAUDE_CONFIG_DIR, every claude-login profile's dir.

    A directory reached twice (CLAUDE_CONFIG_DIR naming a profile's dir) is read once, as the profile's."""
    home = Path(env.get("HOME") or Path.home())
    found: dict[Path, str | None] = {}
    for name, config_dir in sorted(profile_dirs.items()):
        found[_real(Path(config_dir) / "projects")] = name
    for base in (home / ".claude", Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else None):
        if base is not None:
            found.setdefault(_real(base / "projects"), None)
    return [Root(path, profile) for path, profile in found.items()]


def roots_for(config: Any, env: Mapping[str, str]) -> list[Root]:
    """The transcript roots of this configuration: Claude Code's own dirs and every profile's config dir."""
    from ccgate.profiles import all_profiles

    dirs = {p.name: p.config_dir for p in all_profiles(config) if p.config_dir}
    return default_roots(dirs, env)


def any_transcripts(roots: Iterable[Root]) -> bool:
    """Whether any root has an entry at all (a missing or empty `projects/` has nothing to import)."""
    for root in roots:
        try:
            with os.scandir(root.path) as entries:
                if next(entries, None) is not None:
                    return True
        except OSError:
            continue
    return False


def _real(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except OSError:
        return path
