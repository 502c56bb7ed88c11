"""Every test gets its own config, data and state dirs and a file-backed test keyring, so
no test touches the person's real ccgate files or keyring (the llm tests' pattern)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ccgate.profiles import MANAGED_VARS

REPO = Path(__file__).resolve().parent.parent
# Whatever the developer's shell exports must not reach the commands under test.
CLAUDE_VARS = (*MANAGED_VARS, "CCGATE_PROFILE", "CCGATE_MANAGED", "CCGATE_SECRET_STORE")


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
    return root


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def ccgate() -> Runner:
    """Run the real `ccgate` command as a subprocess."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "ccgate", *args],
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
