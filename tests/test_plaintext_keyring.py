"""A plaintext keyring backend (keyrings.alt) is never used silently (issue 16, item 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Runner

OAT = "sk-ant-oat01-plaintext-" + "p" * 30


@pytest.fixture
def plaintext_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """No Secret Service, keyrings.alt installed: keyring itself would pick its PlaintextKeyring."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "")
    return {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg")}


@pytest.mark.parametrize("explicit", [False, True])
def test_profile_add_refuses_a_plaintext_backend(
    ccgate: Runner, plaintext_env: dict[str, str], tmp_path: Path, explicit: bool
) -> None:
    env = (
        {**plaintext_env, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"} if explicit else plaintext_env
    )
    proc = ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=OAT, env=env, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ccgate: the keyring backend keyrings.alt.file.PlaintextKeyring keeps secrets in")
    assert "--insecure-storage" in proc.stderr and "Traceback" not in proc.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and OAT.encode() in p.read_bytes()]
    assert written == []


def test_doctor_flags_a_plaintext_backend(ccgate: Runner, plaintext_env: dict[str, str]) -> None:
    import json

    proc = ccgate("doctor", "--json", env=plaintext_env, check=False)
    store = next(c for c in json.loads(proc.stdout) if c["name"] == "secret store")
    assert proc.returncode == 1 and store["status"] == "fail" and "plaintext" in store["detail"]


def test_insecure_storage_is_the_way_to_opt_in(ccgate: Runner, plaintext_env: dict[str, str]) -> None:
    add = ("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", "--insecure-storage")
    ccgate(*add, input=OAT, env=plaintext_env)
    secrets = Path(os.environ["CCGATE_DATA_DIR"]) / "secrets.toml"
    assert OAT in secrets.read_text() and secrets.stat().st_mode & 0o777 == 0o600
