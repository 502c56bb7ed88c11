"""`serve --detach`, `stop`, `status`: a pidfile and a log file in the state dir.

The pidfile records pid and URL; a pidfile whose process is gone (or is not ccgate) is stale
and is removed wherever it is noticed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ccgate import paths
from ccgate.errors import GatewayError
from ccgate.fileio import write_private

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 40.0


@dataclass(slots=True, frozen=True)
class Running:
    pid: int
    url: str


def pidfile() -> Path:
    return paths.state_dir() / "serve.pid"


def logfile() -> Path:
    return paths.state_dir() / "serve.log"


def running() -> Running | None:
    """The detached forwarder, if its pidfile names a live process; a stale pidfile is removed."""
    try:
        data = json.loads(pidfile().read_text())
        found = Running(int(data["pid"]), str(data["url"]))
    except (OSError, ValueError, KeyError, TypeError):
        pidfile().unlink(missing_ok=True)
        return None
    if not _alive(found.pid):
        pidfile().unlink(missing_ok=True)
        return None
    return found


def _alive(pid: int) -> bool:
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


def health(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{url}/ccgate/health", timeout=timeout) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None


def detach(argv: list[str], url: str) -> Running:
    """Start `ccgate serve` with `argv` in its own session; return once it answers."""
    if (already := running()) is not None:
        raise GatewayError(f"already running (pid {already.pid}, {already.url}); `ccgate stop` first")
    paths.ensure_private_dir(pidfile().parent)
    fd = os.open(logfile(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ccgate", "serve", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    write_private(pidfile(), json.dumps({"pid": proc.pid, "url": url}).encode())
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pidfile().unlink(missing_ok=True)
            raise GatewayError(f"the forwarder exited at start (status {proc.returncode}); see {logfile()}")
        if health(url, timeout=0.5) is not None:
            return Running(proc.pid, url)
        time.sleep(0.05)  # polling a child's readiness, not synchronising a test
    raise GatewayError(f"the forwarder did not answer within {START_TIMEOUT_S:.0f}s; see {logfile()}")


def stop() -> Running | None:
    found = running()
    if found is None:
        return None
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and _alive(found.pid):
        time.sleep(0.05)
    if _alive(found.pid):
        raise GatewayError(f"pid {found.pid} did not stop within {STOP_TIMEOUT_S:.0f}s")
    pidfile().unlink(missing_ok=True)
    return found
