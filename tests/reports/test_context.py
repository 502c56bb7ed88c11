"""The report context: default ranges per grouping, to the second, and what a report says it covers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ccgate.errors import UsageError
from ccgate.reports import context
from ccgate.reports.groups import FAR_FUTURE

BERLIN = ZoneInfo("Europe/Berlin")
# Thursday 2026-11-26 15:30 in Berlin.
NOW = datetime(2026, 11, 26, 15, 30, tzinfo=BERLIN).timestamp()


def local(*args: int) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(
    ("by", "since"),
    [
        ("day", local(2026, 11, 20)),  # 7 calendar days, today included
        ("model", local(2026, 11, 20)),
        ("week", local(2026, 11, 2)),  # Monday of the week three weeks before this one
        ("month", local(2026, 9, 1)),  # the 1st of the month two months before this one
    ],
)
def test_default_ranges_fit_the_grouping(by: str, since: float) -> None:
    start, end = context.resolve_range(by, None, None, BERLIN, NOW)
    assert (start, end) == (since, FAR_FUTURE)


def test_a_month_default_across_a_year_and_dst() -> None:
    january = datetime(2027, 1, 3, 9, tzinfo=BERLIN).timestamp()
    assert context.resolve_range("month", None, None, BERLIN, january)[0] == local(2026, 11, 1)
    assert context.resolve_range("week", None, None, BERLIN, january)[0] == local(2026, 12, 7)


def test_until_must_follow_since_to_the_second() -> None:
    with pytest.raises(UsageError):
        context.resolve_range("day", "2026-11-20T10:00", "2026-11-20T10:00", BERLIN, NOW)
    start, end = context.resolve_range("day", "2026-11-20T10:00", "2026-11-20T10:00:01", BERLIN, NOW)
    assert end - start == 1


@pytest.mark.parametrize(
    ("since", "until", "label"),
    [
        (local(2026, 11, 20), FAR_FUTURE, "2026-11-20 → now (Europe/Berlin)"),
        (local(2026, 11, 1), local(2026, 12, 1), "2026-11-01 through 2026-11-30 (Europe/Berlin)"),
        (local(2026, 11, 1, 10), local(2026, 11, 1, 12, 30), "2026-11-01 10:00 → 2026-11-01 12:30 (Europe/Berlin)"),
        (0.0, FAR_FUTURE, "the first request → now (Europe/Berlin)"),
    ],
)
def test_every_report_says_what_it_covers(since: float, until: float, label: str) -> None:
    assert context.describe_range(since, until, BERLIN) == label
