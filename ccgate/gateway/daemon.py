"""`serve --detach`, `stop`, `status`: a forwarder in the background, found through its run file.

The detached process is this interpreter running ccgate with `-P` (no working directory on
sys.path) from `/`, so a `ccgate.py` or a `ccgate/` folder wherever the command was typed can
never run in its place. It writes the run file itself once it listens (ccgate.gateway.runfile).
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
from pathlib import Path

from ccgate import paths
from ccgate.errors import GatewayError
from ccgate.gateway.runfile import Running, alive, running

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 40.0


def logfile() -> Path:
    return paths.state_dir() / "serve.log"


def ccgate_command() -> list[str]:
    """How ccgate starts itself: this interpreter by absolute path, never importing from the working directory."""
    return [sys.executable, "-P", "-m", "ccgate"]


def health(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{url}/ccgate/health", timeout=timeout) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return None
    return data if isinstance(data, dict) else None


def refuse_if_running() -> None:
    if (already := running()) is not None:
        raise GatewayError(f"already running (pid {already.pid}, {already.url}); `ccgate stop` first")


def detach(argv: list[str]) -> Running:
    """Start `ccgate serve ARGV` in its own session; return once it has announced itself and answers."""
    refuse_if_running()
    paths.ensure_private_dir(paths.state_dir())
    fd = os.open(logfile(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as log:
        proc = subprocess.Popen(
            [*ccgate_command(), "serve", *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd="/",
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise GatewayError(f"the forwarder exited at start (status {proc.returncode}); see {logfile()}")
        found = running()
        if found is not None and found.pid == proc.pid and health(found.url, timeout=0.5) is not None:
            return found
        time.sleep(0.05)  # polling a child's readiness, not synchronising a test
    raise GatewayError(f"the forwarder did not answer within {START_TIMEOUT_S:.0f}s; see {logfile()}")


def stop() -> Running | None:
    found = running()
    if found is None:
        return None
    os.kill(found.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and alive(found.pid):
        time.sleep(0.05)
    if alive(found.pid):
        raise GatewayError(f"pid {found.pid} did not stop within {STOP_TIMEOUT_S:.0f}s")
    return found
