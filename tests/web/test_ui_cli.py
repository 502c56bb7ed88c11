"""`ccgate ui` against a real forwarder, with $BROWSER set to a script that records what it was asked to open."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.conftest import Runner
from tests.fakes.upstream import Gate, free_port


def _fake_browser(tmp_path: Path) -> tuple[Path, Path]:
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, opened


def test_ui_opens_the_dashboard_of_the_running_forwarder(ccgate: Runner, tmp_path: Path) -> None:
    script, opened = _fake_browser(tmp_path)
    with Gate() as gate:
        proc = ccgate("ui", "--port", str(gate.port), env={"BROWSER": str(script), "DISPLAY": ""})
        assert proc.stdout.strip() == f"{gate.url}/ccgate/"
        assert opened.read_text().split() == [f"{gate.url}/ccgate/"]
        printed = ccgate("ui", "--port", str(gate.port), "--no-open", env={"BROWSER": str(script)})
        assert printed.stdout.strip() == f"{gate.url}/ccgate/"
        assert len(opened.read_text().split()) == 1


def test_ui_says_how_to_start_the_forwarder(ccgate: Runner, tmp_path: Path) -> None:
    script, opened = _fake_browser(tmp_path)
    proc = ccgate("ui", "--port", str(free_port()), env={"BROWSER": str(script)}, check=False)
    assert proc.returncode != 0
    assert proc.stderr.startswith("ccgate: no forwarder answering on http://127.0.0.1:")
    assert "ccgate serve --detach" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not opened.exists() and os.path.exists(script)
