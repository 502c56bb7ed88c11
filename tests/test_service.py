"""`ccgate service`: the generated systemd unit and launchd agent, checked as files."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ccgate.service import systemd_quote


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg config")}


def unit_path(home: dict[str, str]) -> Path:
    return Path(home["XDG_CONFIG_HOME"]) / "systemd" / "user" / "ccgate.service"


def test_systemd_unit_runs_this_ccgate_with_this_environment(ccgate, home: dict[str, str]) -> None:
    out = ccgate("service", "install", "--kind", "systemd", env=home).stdout
    assert "systemctl --user enable --now ccgate.service" in out
    unit = unit_path(home).read_text()
    assert f"ExecStart={sys.executable} -P -m ccgate serve" in unit
    assert "WorkingDirectory=~" in unit
    for var in ("CCGATE_CONFIG_DIR", "CCGATE_DATA_DIR", "CCGATE_STATE_DIR"):
        assert f"Environment={var}={os.environ[var]}" in unit
    assert "WantedBy=default.target" in unit
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit_path(home))], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    assert "current" in ccgate("service", "status", "--kind", "systemd", env=home).stdout


def test_status_notices_a_stale_file_and_uninstall_removes_it(ccgate, home: dict[str, str]) -> None:
    assert "absent" in ccgate("service", "status", "--kind", "systemd", env=home).stdout
    ccgate("service", "install", "--kind", "systemd", env=home)
    unit_path(home).write_text(unit_path(home).read_text().replace("RestartSec=2", "RestartSec=9"))
    assert "stale" in ccgate("service", "status", "--kind", "systemd", env=home).stdout
    out = ccgate("service", "uninstall", "--kind", "systemd", env=home).stdout
    assert out.splitlines()[1:] == ["  systemctl --user stop ccgate.service", "  systemctl --user daemon-reload"]
    assert not unit_path(home).exists()
    assert "nothing to remove" in ccgate("service", "uninstall", "--kind", "systemd", env=home).stdout


def test_launchd_agent_is_a_valid_plist(ccgate, home: dict[str, str]) -> None:
    out = ccgate("service", "install", "--kind", "launchd", env=home).stdout
    assert "launchctl bootstrap gui/$(id -u)" in out
    path = Path(home["HOME"]) / "Library" / "LaunchAgents" / "dev.ccgate.serve.plist"
    agent = plistlib.loads(path.read_bytes())
    assert agent["Label"] == "dev.ccgate.serve"
    assert agent["ProgramArguments"] == [sys.executable, "-P", "-m", "ccgate", "serve"]
    assert agent["RunAtLoad"] is True
    assert agent["EnvironmentVariables"]["CCGATE_DATA_DIR"] == os.environ["CCGATE_DATA_DIR"]
    assert ccgate("service", "status", "--kind", "launchd", "--json", env=home).stdout.count('"current"') == 1


def test_odd_paths_stay_literal_in_the_unit(ccgate, home: dict[str, str], tmp_path: Path) -> None:
    odd = tmp_path / "my $HOME %h dir"
    ccgate("service", "install", "--kind", "systemd", env={**home, "CCGATE_DATA_DIR": str(odd)})
    unit = unit_path(home).read_text()
    assert f'Environment="CCGATE_DATA_DIR={str(odd).replace("$", "$$").replace("%", "%%")}"' in unit
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit_path(home))], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stderr
    assert systemd_quote('a"b\\c') == '"a\\"b\\\\c"'


def test_unknown_kind_is_one_line(ccgate, home: dict[str, str]) -> None:
    proc = ccgate("service", "install", "--kind", "upstart", env=home, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "ccgate: unknown service kind 'upstart': use systemd or launchd"


def test_an_enabled_unit_is_disabled_before_it_is_removed(ccgate, home: dict[str, str]) -> None:
    ccgate("service", "install", "--kind", "systemd", env=home)
    wants = unit_path(home).parent / "default.target.wants"
    wants.mkdir()
    (wants / "ccgate.service").symlink_to(unit_path(home))  # what `systemctl --user enable` leaves
    proc = ccgate("service", "uninstall", "--kind", "systemd", env=home, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == (
        "ccgate: ccgate.service is enabled; disable it first: `systemctl --user disable --now ccgate.service`, "
        "then run `ccgate service uninstall` again\n"
    )
    assert unit_path(home).exists()
    (wants / "ccgate.service").unlink()  # `systemctl --user disable` removes the link
    ccgate("service", "uninstall", "--kind", "systemd", env=home)
    assert not unit_path(home).exists()
