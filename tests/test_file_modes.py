"""Files and directories ccgate creates get explicit modes, whatever the umask (issue 16, item 16)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from ccgate.usage import store
from tests.reports.conftest import rec


def _run_with_umask_000(*args: str, env: dict[str, str] | None = None) -> None:
    cmd = " ".join(["umask 000; exec", sys.executable, "-P", "-m", "ccgate", *args])
    proc = subprocess.run(["sh", "-c", cmd], env={**os.environ, **(env or {})}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_own_config_dir_and_its_parents_are_private(ccgate_dirs: Path) -> None:
    _run_with_umask_000("profile", "add", "work", "--kind", "claude-login", "--own-config-dir")
    data = Path(os.environ["CCGATE_DATA_DIR"])
    for path in (data, data / "claude-config", data / "claude-config" / "work"):
        assert _mode(path) == 0o700, path
    assert _mode(Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml") == 0o600


def test_service_unit_and_its_directories(tmp_path: Path) -> None:
    home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    _run_with_umask_000("service", "install", "--kind", "systemd", env=home)
    unit = tmp_path / "xdg" / "systemd" / "user" / "ccgate.service"
    assert _mode(unit) == 0o644
    for path in (tmp_path / "xdg", tmp_path / "xdg" / "systemd", tmp_path / "xdg" / "systemd" / "user"):
        assert _mode(path) == 0o755, path


def test_price_cache_is_private(ccgate_dirs: Path) -> None:
    conn = store.connect()
    store.insert_records(conn, [rec(1_700_000_000.0, input_tokens=10, output_tokens=5)])
    conn.close()
    _run_with_umask_000("stats", "--since", "2023-01-01", "--json")
    cache = Path(os.environ["CCGATE_STATE_DIR"]) / "price-cache.json"
    assert _mode(cache) == 0o600
