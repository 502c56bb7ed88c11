"""Every test gets its own config, data and state dirs and a file-backed test keyring, so
no test touches the person's real ccgate files or keyring (the llm tests' pattern)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccgate.profiles import MANAGED_VARS

REPO = Path(__file__).resolve().parent.parent
# Whatever the developer's shell exports must not reach the commands under test.
CLAUDE_VARS = (*MANAGED_VARS, "CCGATE_PROFILE", "CCGATE_MANAGED", "CCGATE_SECRET_STORE", "CCGATE_PORT")
# The port a person's own forwarder uses: no test may connect to it (see `tripwire_on_default_port`).
DEFAULT_PORT = 7421


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _from_this_run(peer_port: int) -> bool:
    """Whether the client socket on `peer_port` belongs to this pytest process or one of its
    descendants (Linux /proc; elsewhere every connection counts)."""
    proc = Path("/proc")
    if not (proc / "net" / "tcp").exists():
        return True
    inode = None
    for line in (proc / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == peer_port:
            inode = fields[9]
    if inode is None:
        return True  # gone already: cannot tell, count it
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fd_dir.iterdir()):
                return _descends_from(int(fd_dir.parent.name), os.getpid())
        except OSError:
            continue
    return True


def _descends_from(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return False
    return False


@pytest.fixture(autouse=True, scope="session")
def tripwire_on_default_port() -> Iterator[None]:
    """Listen on 7421 when it is free and fail the run if any test connects there: the suite must
    never reach a forwarder someone left running. (When 7421 is taken, that forwarder is the test.)"""
    try:
        listener = socket.create_server(("127.0.0.1", DEFAULT_PORT))
    except OSError:
        yield
        return
    hits: list[str] = []

    def accept() -> None:
        while True:
            try:
                conn, addr = listener.accept()
            except OSError:
                return
            if _from_this_run(addr[1]):  # other programs on a shared machine may knock too
                hits.append(str(addr))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield
    listener.close()
    thread.join(5)
    assert not hits, f"tests connected to 127.0.0.1:{DEFAULT_PORT} ({len(hits)} times)"


@pytest.fixture(autouse=True)
def ccgate_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path_factory.mktemp("ccgate")
    for name in ("config", "data", "state"):
        monkeypatch.setenv(f"CCGATE_{name.upper()}_DIR", str(root / name))

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.keyring_backend.FileKeyring")
    monkeypatch.setenv("CCGATE_TEST_KEYRING", str(root / "test-keyring.json"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    for var in CLAUDE_VARS:
        monkeypatch.delenv(var, raising=False)
    # Nothing listens there: a forwarder the test did not start is never found by accident.
    monkeypatch.setenv("CCGATE_PORT", str(_unused_port()))
    # A home of its own: no test reads the person's ~/.claude transcripts or settings.
    home = root / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    # Alerts never pop a real desktop notification (tests/test_alerts.py checks the notifier's argv).
    monkeypatch.setenv("CCGATE_DESKTOP_NOTIFY", "0")
    return root


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def ccgate() -> Runner:
    """Run the real `ccgate` command as a subprocess."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-P", "-m", "ccgate", *args],
            input=input,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
            timeout=60,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"ccgate {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        return proc

    return run
