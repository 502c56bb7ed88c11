"""--since/--until/--tz: boundaries at local midnight and across a DST change, through `ccgate stats`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import Runner
from tests.reports.conftest import parse_json, rec


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def keys(report: dict) -> dict[str, int]:
    return {r["key"]: r["requests"] for r in report["rows"]}


def test_midnight_boundary_depends_on_the_zone(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    usage_log(
        [
            rec(utc("2026-06-01T21:59:59"), input_tokens=1),  # 23:59:59 in Berlin (CEST, UTC+2)
            rec(utc("2026-06-01T22:00:00"), input_tokens=1),  # 00:00:00 on 2 June in Berlin
            rec(utc("2026-06-01T23:59:59"), input_tokens=1),
            rec(utc("2026-06-02T00:00:00"), input_tokens=1),  # midnight UTC
        ]
    )
    berlin = parse_json(
        ccgate("stats", "--since", "2026-06-01", "--until", "2026-06-02", "--tz", "Europe/Berlin", "--json").stdout
    )
    assert keys(berlin) == {"2026-06-01": 1, "2026-06-02": 3}
    assert berlin["rows"][1]["start"] == "2026-06-02T00:00:00+02:00"
    assert (berlin["since"], berlin["until"]) == ("2026-06-01T00:00:00+02:00", "2026-06-03T00:00:00+02:00")
    assert berlin["tz"] == "Europe/Berlin"
    in_utc = parse_json(
        ccgate("stats", "--since", "2026-06-01", "--until", "2026-06-02", "--tz", "UTC", "--json").stdout
    )
    assert keys(in_utc) == {"2026-06-01": 3, "2026-06-02": 1}
    # --since at local midnight includes the request at exactly midnight; --until (a date) ends at the next one.
    only_second = parse_json(
        ccgate("stats", "--since", "2026-06-02", "--until", "2026-06-02", "--tz", "Europe/Berlin", "--json").stdout
    )
    assert keys(only_second) == {"2026-06-02": 3}
    exact = parse_json(
        ccgate(
            "stats",
            "--since",
            "2026-06-01T22:00:00+00:00",
            "--until",
            "2026-06-02T00:00:00+00:00",
            "--tz",
            "UTC",
            "--json",
        ).stdout
    )
    assert exact["totals"]["requests"] == 2  # since inclusive, until exclusive


def test_days_across_spring_forward(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    # New York springs forward on 2026-03-08 at 02:00 EST -> 03:00 EDT: that day has 23 hours.
    usage_log(
        [
            rec(utc("2026-03-08T04:59:00"), input_tokens=1),  # 23:59 EST on 7 March
            rec(utc("2026-03-08T05:00:00"), input_tokens=1),  # 00:00 EST on 8 March
            rec(utc("2026-03-08T07:30:00"), input_tokens=1),  # 03:30 EDT (02:xx does not exist)
            rec(utc("2026-03-09T03:59:00"), input_tokens=1),  # 23:59 EDT on 8 March
            rec(utc("2026-03-09T04:00:00"), input_tokens=1),  # 00:00 EDT on 9 March
        ]
    )
    report = parse_json(
        ccgate("stats", "--since", "2026-03-07", "--until", "2026-03-09", "--tz", "America/New_York", "--json").stdout
    )
    assert keys(report) == {"2026-03-07": 1, "2026-03-08": 3, "2026-03-09": 1}
    day = report["rows"][1]
    assert (day["start"], day["end"]) == ("2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00")
    until_8th = parse_json(
        ccgate("stats", "--since", "2026-03-08", "--until", "2026-03-08", "--tz", "America/New_York", "--json").stdout
    )
    assert until_8th["totals"]["requests"] == 3
    hours = parse_json(
        ccgate(
            "stats",
            "--by",
            "hour",
            "--since",
            "2026-03-08",
            "--until",
            "2026-03-08",
            "--tz",
            "America/New_York",
            "--json",
        ).stdout
    )
    assert [r["key"] for r in hours["rows"]] == ["2026-03-08 00:00 EST", "2026-03-08 03:00 EDT", "2026-03-08 23:00 EDT"]


def test_fall_back_hour_appears_twice(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    # 2026-11-01 01:00-02:00 happens twice in New York (EDT, then EST).
    usage_log([rec(utc("2026-11-01T05:30:00"), input_tokens=1), rec(utc("2026-11-01T06:30:00"), input_tokens=1)])
    hours = parse_json(
        ccgate(
            "stats",
            "--by",
            "hour",
            "--since",
            "2026-11-01",
            "--until",
            "2026-11-01",
            "--tz",
            "America/New_York",
            "--json",
        ).stdout
    )
    assert [r["key"] for r in hours["rows"]] == ["2026-11-01 01:00 EDT", "2026-11-01 01:00 EST"]
    days = parse_json(
        ccgate("stats", "--since", "2026-11-01", "--until", "2026-11-01", "--tz", "America/New_York", "--json").stdout
    )
    assert keys(days) == {"2026-11-01": 2}
    assert days["rows"][0]["end"] == "2026-11-02T00:00:00-05:00"


def test_week_and_month(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    usage_log(
        [
            rec(utc("2026-03-01T12:00"), input_tokens=1),
            rec(utc("2026-03-02T12:00"), input_tokens=1),
            rec(utc("2026-04-01T12:00"), input_tokens=1),
        ]
    )
    weeks = parse_json(
        ccgate(
            "stats", "--by", "week", "--since", "2026-02-01", "--until", "2026-04-30", "--tz", "UTC", "--json"
        ).stdout
    )
    # ISO weeks start on Monday: Sunday 1 March is in W09, Monday 2 March starts W10.
    assert keys(weeks) == {"2026-W09": 1, "2026-W10": 1, "2026-W14": 1}
    months = parse_json(
        ccgate(
            "stats", "--by", "month", "--since", "2026-02-01", "--until", "2026-04-30", "--tz", "UTC", "--json"
        ).stdout
    )
    assert keys(months) == {"2026-03": 2, "2026-04": 1}


def test_relative_since_and_default_window(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    now = datetime.now(UTC).timestamp()
    usage_log(
        [rec(now - 3600, input_tokens=1), rec(now - 3 * 86400, input_tokens=1), rec(now - 30 * 86400, input_tokens=1)]
    )
    assert parse_json(ccgate("stats", "--since", "24h", "--json").stdout)["totals"]["requests"] == 1
    assert parse_json(ccgate("stats", "--since", "2w", "--json").stdout)["totals"]["requests"] == 2
    # Default: the last 7 calendar days by day.
    default = parse_json(ccgate("stats", "--json").stdout)
    assert default["by"] == "day" and default["totals"]["requests"] == 2


def test_rows_written_out_of_time_order_are_all_counted(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    # A long stream is logged when it ends: its row id comes after requests that started later.
    usage_log(
        [
            rec(utc("2026-06-01T09:00"), input_tokens=1),
            rec(utc("2026-06-02T10:00"), input_tokens=1),
            rec(utc("2026-06-02T09:00"), input_tokens=1),  # started earlier, written later
            rec(utc("2026-06-03T10:00"), input_tokens=1),
            rec(utc("2026-06-02T08:00"), input_tokens=1),  # even earlier, written last
        ]
    )
    day = parse_json(ccgate("stats", "--since", "2026-06-02", "--until", "2026-06-02", "--tz", "UTC", "--json").stdout)
    assert day["totals"]["requests"] == 3
    everything = parse_json(ccgate("stats", "--since", "2026-01-01", "--tz", "UTC", "--json").stdout)
    assert keys(everything) == {"2026-06-01": 1, "2026-06-02": 3, "2026-06-03": 1}
