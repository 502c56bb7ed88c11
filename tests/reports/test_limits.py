"""Limits per account (reports/limits.py): grouping profiles by account, the pace forecast."""

from __future__ import annotations

import pytest

from ccgate.reports import limits


def test_pace_forecast_extrapolates_the_last_hour_since_the_last_reset() -> None:
    # 0.90 -> reset -> 0.10 at t=0, 0.30 at t=1800: 40 %/h, full at t=1800 + 0.7/0.4 h.
    points = [(-600.0, 0.9), (0.0, 0.1), (900.0, 0.2), (1800.0, 0.3)]
    pace = limits.pace_forecast(points, reset=10_000)
    assert pace is not None
    assert pace["rate_per_hour"] == pytest.approx(0.4)
    assert pace["full_at"] == pytest.approx(1800 + 1.75 * 3600)
    assert pace["before_reset"] is True
    assert limits.pace_forecast(points, reset=3000)["before_reset"] is False  # type: ignore[index]
    assert limits.pace_forecast([(0.0, 0.5), (600.0, 0.5)], reset=None) == {
        "rate_per_hour": 0.0,
        "full_at": None,
        "before_reset": False,
    }
    assert limits.pace_forecast([(0.0, 0.5)], reset=None) is None
    assert limits.pace_forecast([(0.0, 0.30), (0.03, 0.61)], reset=None) is None  # too close to extrapolate


def test_the_newest_figures_of_a_profile_are_one_index_look_up() -> None:
    """A profile whose responses never carry limits (an API key) must not walk its 8 days of rows."""
    from ccgate.usage import store
    from tests.reports.conftest import rec

    conn = store.connect()
    sql = limits.LATEST_SQL.format(where="AND profile IN (?)")

    def plan() -> str:
        return " ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + sql, (0.0, 1.0, "work")))

    assert "USING INDEX requests_limits (profile=? AND ts>? AND ts<?)" in plan()
    # Also once ANALYZE has seen a log where nearly every row carries figures.
    store.insert_records(conn, [rec(float(i), rl_5h_utilization=0.5) for i in range(300)] + [rec(1.0, profile="work")])
    conn.execute("ANALYZE")
    assert "USING INDEX requests_limits (profile=? AND ts>? AND ts<?)" in plan()
    figures = limits.latest(conn, 0.0, 400.0, ["max"])
    assert figures is not None and figures["ts"] == 299.0 and limits.latest(conn, 0.0, 400.0, ["work"]) is None
