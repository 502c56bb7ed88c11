"""Where the running forwarder is: the run file every `ccgate serve` writes once it listens.

Foreground and detached forwarders alike write `serve.json` in the state dir (pid and URL) after
they bind, and remove it when they stop; a run file whose process is gone (or is not ccgate) is
stale and is removed wherever it is noticed. Everything that needs the forwarder's address
(`use --gate`, `exec --gate`, `ui`, `doctor`, `status`) asks `locate()`, which falls back to the
configured port only when no forwarder runs. Cheap to import: `ccgate use` runs in every shell.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ccgate import paths

UNSPECIFIED_HOSTS = ("0.0.0.0", "::", "")


@dataclass(slots=True, frozen=True)
class Running:
    pid: int
    url: str


@dataclass(slots=True, frozen=True)
class Location:
    url: str
    running: Running | None  # None: nothing runs, `url` is the configured address


def path() -> Path:
    return paths.state_dir() / "serve.json"


def base_url(host: str, port: int) -> str:
    """The loopback URL clients use for a forwarder bound to `host`:`port` (a wildcard bind is reached on 127.0.0.1)."""
    if host in UNSPECIFIED_HOSTS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def announce(url: str) -> None:
    """Record this process as the running forwarder (called once it listens)."""
    from ccgate.fileio import write_private

    write_private(path(), json.dumps({"pid": os.getpid(), "url": url}).encode())


def withdraw() -> None:
    """Remove the run file if it still names this process."""
    found = _read()
    if found is not None and found.pid == os.getpid():
        path().unlink(missing_ok=True)


def running() -> Running | None:
    """The forwarder named by the run file, if that process is alive; a stale file is removed."""
    found = _read()
    if found is None:
        return None
    if not alive(found.pid):
        with contextlib.suppress(OSError):
            path().unlink()
        return None
    return found


def locate(host: str, port: int) -> Location:
    found = running()
    return Location(found.url, found) if found is not None else Location(base_url(host, port), None)


def _read() -> Running | None:
    try:
        data = json.loads(path().read_text())
        return Running(int(data["pid"]), str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def alive(pid: int) -> bool:
    """Whether `pid` is a live ccgate process (a recycled pid running something else is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the signal check
    return b"ccgate" in cmdline
