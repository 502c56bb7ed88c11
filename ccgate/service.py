"""Running `ccgate serve` with the login session: a systemd user unit or a launchd agent.

ccgate writes one file it owns and prints the commands that enable it; it never runs
systemctl/launchctl itself, so nothing changes behind the person's back. The command line is
this interpreter, by absolute path, running `-P -m ccgate serve` from the home directory: it keeps
working inside a virtualenv, and `-P` keeps any `ccgate.py` or `ccgate/` in the working directory
off sys.path. Modes are set explicitly (directories 0755, the file 0644), whatever the umask.
"""

from __future__ import annotations

import os
import plistlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ccgate.errors import UsageError

Kind = Literal["systemd", "launchd"]
UNIT_NAME = "ccgate.service"
LAUNCHD_LABEL = "dev.ccgate.serve"
# Variables that move ccgate's files or secret store: the service must see what this shell sees.
PASSED_VARS = ("CCGATE_CONFIG_DIR", "CCGATE_DATA_DIR", "CCGATE_STATE_DIR", "CCGATE_SECRET_STORE")


@dataclass(slots=True, frozen=True)
class ServiceFile:
    kind: Kind
    path: Path
    content: str
    enable: tuple[str, ...]
    disable: tuple[str, ...]


def default_kind() -> Kind:
    if sys.platform == "darwin":
        return "launchd"
    if sys.platform.startswith("linux"):
        return "systemd"
    raise UsageError(f"no service manager support on {sys.platform}; run `ccgate serve --detach` instead")


def serve_command() -> list[str]:
    from ccgate.gateway.daemon import ccgate_command

    return [*ccgate_command(), "serve"]


def passed_environment(env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    return {name: env[name] for name in PASSED_VARS if env.get(name)}


def service_file(kind: Kind, env: dict[str, str] | os._Environ[str] = os.environ) -> ServiceFile:
    home = Path(env.get("HOME") or Path.home())
    if kind == "systemd":
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        return ServiceFile(
            kind,
            config_home / "systemd" / "user" / UNIT_NAME,
            systemd_unit(serve_command(), passed_environment(env)),
            ("systemctl --user daemon-reload", f"systemctl --user enable --now {UNIT_NAME}"),
            (f"systemctl --user disable --now {UNIT_NAME}", "systemctl --user daemon-reload"),
        )
    path = home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    return ServiceFile(
        kind,
        path,
        launchd_plist(serve_command(), passed_environment(env), home),
        (f'launchctl bootstrap gui/$(id -u) "{path}"',),
        (f"launchctl bootout gui/$(id -u)/{LAUNCHD_LABEL}",),
    )


def systemd_quote(arg: str) -> str:
    """One ExecStart/Environment word: specifiers (%) and variables ($) kept literal, spaces quoted."""
    escaped = arg.replace("%", "%%").replace("$", "$$")
    if any(c in escaped for c in " \t\"'\\;"):
        return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return escaped


def systemd_unit(argv: list[str], env: dict[str, str]) -> str:
    lines = [
        "# Written by `ccgate service install`; removed by `ccgate service uninstall`.",
        "[Unit]",
        "Description=ccgate: local forwarder and usage log for Claude Code",
        "After=default.target",
        "",
        "[Service]",
        "Type=simple",
        # `~`: the user's home, so the forwarder never starts in a directory that holds other code.
        "WorkingDirectory=~",
        f"ExecStart={' '.join(systemd_quote(a) for a in argv)}",
        *(f"Environment={systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())),
        "Restart=on-failure",
        "RestartSec=2",
        # SIGTERM lets streams in flight finish (serve's grace period is 30 s).
        "TimeoutStopSec=40",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(argv: list[str], env: dict[str, str], home: Path) -> str:
    log = str(home / "Library" / "Logs" / "ccgate.log")
    plist: dict[str, object] = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": argv,
        "WorkingDirectory": str(home),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "StandardOutPath": log,
        "StandardErrorPath": log,
    }
    if env:
        plist["EnvironmentVariables"] = env
    return plistlib.dumps(plist).decode()


def install(kind: Kind) -> ServiceFile:
    found = service_file(kind)
    _make_dirs(found.path.parent, 0o755)
    tmp = found.path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o644)  # the umask would otherwise decide (0666 under umask 000)
        f.write(found.content)
    os.replace(tmp, found.path)
    return found


def _make_dirs(path: Path, mode: int) -> None:
    """Create `path` and its missing parents, each with exactly `mode`; existing ones are left alone."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=mode)
        directory.chmod(mode)


def uninstall(kind: Kind) -> tuple[ServiceFile, bool]:
    found = service_file(kind)
    existed = found.path.exists()
    found.path.unlink(missing_ok=True)
    return found, existed


def status(kind: Kind) -> tuple[ServiceFile, str]:
    """'absent', 'current' or 'stale' (written by another ccgate or interpreter: install again)."""
    found = service_file(kind)
    try:
        on_disk = found.path.read_text()
    except FileNotFoundError:
        return found, "absent"
    return found, "current" if on_disk == found.content else "stale"
