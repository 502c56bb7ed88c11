"""Big id ranges are aggregated in slices on parallel connections: same report as one pass."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ccgate.reports import groups, reader, stats
from tests.reports.conftest import report_ctx
from tests.reports.rollup_helpers import raw_only_copy
from tests.reports.test_stats_golden import golden_records


@pytest.mark.parametrize("by", ["day", "model", "session", "hour"])
def test_sliced_report_equals_single_pass(
    usage_log: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, by: str
) -> None:
    # Without the hourly sums, so every grouping reads the raw rows (the part that is sliced).
    conn = raw_only_copy(usage_log(golden_records() * 3), tmp_path / "raw.db")
    ctx = report_ctx()
    query = stats.query(ctx, by, breakdown=True)
    single = stats.stats_report(conn, ctx, query).to_dict()
    calls: list[int] = []
    real_open = reader.connect_readonly

    def counting_open(path: Path):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real_open(path)

    monkeypatch.setattr(groups, "PARALLEL_MIN_ROWS", 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(reader, "connect_readonly", counting_open)
    sliced = stats.stats_report(conn, ctx, query).to_dict()
    assert len(calls) == 4  # four slices, each on its own read-only connection
    assert sliced == single
