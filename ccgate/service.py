"""Running `ccgate serve` with the login session: a systemd user unit or a launchd agent.

ccgate writes one file it owns and prints the commands that enable it; it never runs
systemctl/launchctl itself, so nothing changes behind the person's back. The command line is
this interpreter running `-m ccgate serve`, which keeps working inside a virtualenv.
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
    return [sys.executable, "-m", "ccgate", "serve"]


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
    found.path.parent.mkdir(parents=True, exist_ok=True)
    tmp = found.path.with_suffix(".tmp")
    tmp.write_text(found.content)
    os.replace(tmp, found.path)
    return found


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
