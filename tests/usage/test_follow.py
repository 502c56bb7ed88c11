"""While `ccgate serve` runs, new transcript lines reach the usage log by themselves (issue 17 item 4)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from tests.conftest import Runner
from tests.fakes.upstream import Gate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts" / "cc-2.1.332" / "projects"
DEADLINE_S = 5.0  # the README promises new lines in the reports within 5 seconds


def transcript_rows() -> int:
    db = Path(os.environ["CCGATE_DATA_DIR"]) / "usage.db"
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM requests WHERE seen = 2").fetchone()[0])
        except sqlite3.OperationalError:
            return 0  # created, not migrated yet


def test_serve_imports_transcripts_as_they_are_written(ccgate: Runner) -> None:
    projects = Path(os.environ["HOME"]) / ".claude" / "projects"
    projects.parent.mkdir(parents=True)
    with Gate() as gate:
        assert gate.health()["transcripts"]["added"] == 0
        assert transcript_rows() == 0
        # Copied beside it, then moved in whole: a pass that runs mid-copy would see only some
        # sessions, and the next pass would add the rest after the count below was taken.
        shutil.copytree(FIXTURES, projects.with_name("incoming"))
        projects.with_name("incoming").rename(projects)
        deadline = time.monotonic() + DEADLINE_S
        # A pass commits in batches: the count is final once a finished pass reports what it added.
        while not 0 < gate.health()["transcripts"]["added"] == transcript_rows() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the log for the condition, with a deadline
        count = transcript_rows()
        assert gate.health()["transcripts"]["added"] == count
    assert count > 0
    listed = ccgate("stats", "--since", "2000-01-01", "--source", "transcripts", "--json").stdout
    assert f'"requests": {count}' in listed


def test_the_follower_can_be_switched_off(ccgate: Runner) -> None:
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[settings]\nimport_while_serving = false\nimport_before_stats = false\n")
    projects = Path(os.environ["HOME"]) / ".claude" / "projects"
    shutil.copytree(FIXTURES, projects)
    with Gate() as gate:
        assert gate.health()["transcripts"] is None  # no follower at all
        ccgate("stats", "--json")  # a forwarder runs: stats leaves importing to it
    ccgate("stats", "--json")  # and switched off it does not import either
    assert transcript_rows() == 0


def test_stats_imports_first_when_no_forwarder_runs(ccgate: Runner) -> None:
    projects = Path(os.environ["HOME"]) / ".claude" / "projects"
    shutil.copytree(FIXTURES, projects)
    assert transcript_rows() == 0
    report = ccgate("stats", "--since", "2000-01-01", "--json").stdout
    count = transcript_rows()
    assert count > 0 and f'"requests": {count}' in report
    ccgate("stats", "--since", "2000-01-01", "--json")
    assert transcript_rows() == count  # the second run found nothing new
