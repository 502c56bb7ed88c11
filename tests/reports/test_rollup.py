"""The hourly sums answer exactly what the raw rows answer.

One log of a few thousand varied requests (no profile, no response model, long context, fast
mode, errors, count_tokens, a DST change, odd seconds) is read twice for every query: once as
it is (hourly sums for whole UTC hours, raw rows at the edges) and once from a copy without the
sums (raw rows only). Hypothesis picks the queries: grouping, range (hour-aligned or not,
open-ended), time zone (whole-hour, DST, +05:30, Lord Howe's half-hour DST) and filters
(profile, model, account, session).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccgate.reports import groups, stats
from ccgate.usage import store
from ccgate.usage.model import UsageRecord
from tests.reports.conftest import rec, report_ctx
from tests.reports.rollup_helpers import insert_into_old_schema, raw_only_copy

START = datetime(2026, 10, 20, tzinfo=UTC).timestamp()  # Europe's DST ends on Oct 25, America's on Nov 1
SPAN = 16 * 86400
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
KINDS = {"max": "max-oauth", "work": "api-key", "gw": "litellm-key"}


def varied_records(n: int, seed: int) -> list[UsageRecord]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prompt_big = rng.random() < 0.05
        prompt_mid = rng.random() < 0.05  # between haiku-5-5's 100k tier start and the usual 200k
        out.append(
            rec(
                START + rng.random() * SPAN,
                rng.choice(
                    ["claude-sonnet-5", "claude-opus-4-8", "claude-haiku-5-5", "claude-sonnet-4-5", "mystery-1", None]
                ),
                request_model=rng.choice(["claude-sonnet-5", None]),
                profile=rng.choice(["max", "work", "gw", None]),
                account_id=rng.choice(["acct-1", "acct-2", None]),
                billing=rng.choice(["api", "subscription", "unknown"]),
                speed=rng.choice([None, None, "fast"]),
                status=rng.choice([200, 200, 200, 429, 500]),
                outcome=rng.choice(["ok", "ok", "ok", "client_abort"]),
                endpoint=rng.choice(["messages"] * 9 + ["count_tokens"]),
                input_tokens=rng.randrange(0, 500) + (210_000 if prompt_big else 0) + (120_000 if prompt_mid else 0),
                inference_geo=rng.choice([None, None, "us", "global"]),
                project=rng.choice(["/home/me/a", "/home/me/b", None]),
                machine=rng.choice([None, None, "devbox"]),
                seen=rng.choice([1, 1, 2, 3]),
                cache_read_tokens=rng.randrange(0, 50_000),
                cache_write_5m_tokens=rng.randrange(0, 5_000),
                cache_write_1h_tokens=rng.randrange(0, 3_000),
                cache_write_other_tokens=rng.randrange(0, 10),
                output_tokens=rng.randrange(0, 4_000),
                web_search_requests=rng.randrange(0, 2),
                session_id=rng.choice(["s1", "s2", "s3", None]),
            )
        )
    return out


@pytest.fixture(scope="module")
def two_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[sqlite3.Connection, sqlite3.Connection]]:
    root = tmp_path_factory.mktemp("rollup")
    conn = store.connect(root / "usage.db")
    records = varied_records(3000, seed=7)
    # In several transactions and out of time order, as requests of different lengths finish.
    for start in range(0, len(records), 250):
        store.insert_records(conn, records[start : start + 250])
    raw = raw_only_copy(root / "usage.db", root / "raw.db")
    yield conn, raw
    conn.close()
    raw.close()


def report(conn: sqlite3.Connection, q: groups.StatsQuery) -> dict:
    ctx = report_ctx(kinds=KINDS, rides_on={"gw": "max"}, plan_monthly_usd=100.0, now=START + SPAN)
    return stats.stats_report(conn, ctx, q).to_dict()


bounds = st.one_of(
    st.integers(0, SPAN // 3600).map(lambda h: START + h * 3600),  # on a UTC hour
    st.floats(0, SPAN).map(lambda s: START + s),  # anywhere
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    by=st.sampled_from(
        ["day", "week", "month", "hour", "model", "profile", "account", "billing", "session", "project", "machine"]
    ),
    since=st.one_of(st.just(0.0), bounds),
    length=st.one_of(st.just(None), st.floats(1, SPAN)),
    zone=st.sampled_from(ZONES),
    profile=st.sampled_from([None, "max", "gw"]),
    model=st.sampled_from([None, "sonnet", "mystery"]),
    account=st.sampled_from([None, "acct-2"]),
    session=st.sampled_from([None, None, "s2"]),
    project=st.sampled_from([None, None, "/home/me/b"]),
    source=st.sampled_from(["all", "gateway", "transcripts"]),
    breakdown=st.booleans(),
)
def test_hourly_sums_equal_raw_rows(
    two_logs: tuple[sqlite3.Connection, sqlite3.Connection],
    by: str,
    since: float,
    length: float | None,
    zone: str,
    profile: str | None,
    model: str | None,
    account: str | None,
    session: str | None,
    project: str | None,
    source: str,
    breakdown: bool,
) -> None:
    rolled, raw = two_logs
    until = groups.FAR_FUTURE if length is None else (since or START) + length
    q = groups.StatsQuery(
        by=by,
        since=since,
        until=until,
        tz=ZoneInfo(zone),
        profile=profile,
        model=model,
        account=account,
        session=session,
        project=project,
        source=source,
        breakdown=breakdown,
    )
    assert report(rolled, q) == report(raw, q)


def test_whole_hours_come_from_the_sums(
    two_logs: tuple[sqlite3.Connection, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    rolled, _ = two_logs
    raw_reads: list[tuple[float, float]] = []
    real = groups.raw_groups

    def spy(conn, grouping, q, reading):  # type: ignore[no-untyped-def]
        raw_reads.append((q.since, q.until))
        return real(conn, grouping, q, reading)

    monkeypatch.setattr(groups, "raw_groups", spy)
    whole = report(rolled, groups.StatsQuery(by="day", since=START, until=START + SPAN))
    assert whole["totals"]["requests"] > 2000
    assert raw_reads == []  # hour-aligned range in UTC: no raw row read
    report(rolled, groups.StatsQuery(by="model", since=START + 1800, until=START + 7 * 86400 + 60))
    assert raw_reads == [(START + 1800, START + 3600), (START + 7 * 86400, START + 7 * 86400 + 60)]
    raw_reads.clear()
    report(rolled, groups.StatsQuery(by="day", since=START, until=START + SPAN, tz=ZoneInfo("Asia/Kolkata")))
    assert raw_reads == [(START, START + SPAN)]  # local days start at :30 UTC: raw rows only
    raw_reads.clear()
    report(rolled, groups.StatsQuery(by="session", since=START, until=START + SPAN))
    assert raw_reads == []  # sessions have hourly sums of their own
    report(rolled, groups.StatsQuery(by="model", since=START, until=START + SPAN, session="s2"))
    assert raw_reads == [(START, START + SPAN)]  # one session's rows are read as they are


def test_migration_sums_an_existing_log(tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    old = store.connect(db, upto="m003_billing_agents_speed")
    insert_into_old_schema(old, varied_records(500, seed=3))
    old.close()
    upgraded = store.connect(db)
    assert store.applied_migrations(upgraded)[3:] == [
        "m004_hourly_rollups",
        "m005_ledger",
        "m006_imports",
        "m007_limits_index",
        "m008_rollup_usage_counts",
    ]
    raw = raw_only_copy(db, tmp_path / "raw.db")
    for by in ("day", "model", "billing", "session"):
        q = groups.StatsQuery(by=by, since=START, until=START + SPAN)
        assert report(upgraded, q) == report(raw, q)
    # And the trigger keeps it up to date from then on.
    store.insert_records(upgraded, varied_records(50, seed=4))
    raw = raw_only_copy(db, tmp_path / "raw2.db")
    q = groups.StatsQuery(by="profile", since=START, until=START + SPAN)
    assert report(upgraded, q) == report(raw, q)
    assert report(upgraded, q)["totals"]["requests"] > 450


def test_a_tier_start_the_sums_do_not_split_at_reads_raw_rows(
    two_logs: tuple[sqlite3.Connection, sqlite3.Connection], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An override whose long-context tier starts at 150k: the hourly sums cannot tell 140k from 160k."""
    from ccgate.reports.pricing import Pricer, parse_overrides

    rolled, raw = two_logs
    overrides = {
        "mystery-1": {
            "input_mtok": 1,
            "output_mtok": 2,
            "long_context": {"input_mtok": 3, "output_mtok": 6, "start": 150_000},
        }
    }
    ctx = report_ctx(kinds=KINDS, pricer=Pricer(parse_overrides(overrides)))
    q = groups.StatsQuery(by="model", since=START, until=START + SPAN)
    raw_reads: list[tuple[float, float]] = []
    real = groups.raw_groups

    def spy(conn, grouping, q, reading):  # type: ignore[no-untyped-def]
        raw_reads.append((q.since, q.until))
        return real(conn, grouping, q, reading)

    monkeypatch.setattr(groups, "raw_groups", spy)
    assert stats.stats_report(rolled, ctx, q).to_dict() == stats.stats_report(raw, ctx, q).to_dict()
    assert raw_reads[0] == (START, START + SPAN)  # the whole range from raw rows, not the sums


def test_a_refusal_of_an_unpriced_model_is_not_unpriced_usage(tmp_path: Path) -> None:
    """Two answers of a model no price source knows and its 429 in one hour: two requests went
    unpriced, from the hourly sums as from the raw rows, in stats and beside the blocks."""
    from ccgate.reports.blocks import blocks_report

    conn = store.connect(tmp_path / "usage.db")
    hour = START + 5 * 3600
    store.insert_records(
        conn,
        [
            rec(hour + 60, "claude-mystery-9", input_tokens=100),
            rec(hour + 120, "claude-mystery-9", output_tokens=10),
            rec(hour + 180, "claude-mystery-9", status=429),
        ],
    )
    for since, until in ((hour, hour + 3600), (hour + 1, hour + 3599)):  # the sums, then the raw rows
        got = report(conn, groups.StatsQuery(by="model", since=since, until=until))
        assert (got["totals"]["requests"], got["totals"]["errors"], got["totals"]["unpriced_requests"]) == (3, 1, 2)
        other = blocks_report(conn, report_ctx(since=since, until=until))["other_traffic"]
        assert (other["requests"], other["unpriced_requests"]) == (3, 2)


def test_model_names_from_the_log_are_quoted_into_the_merged_bands(tmp_path: Path) -> None:
    """Models come from request bodies: a quote or a NUL in one is data, never SQL."""
    conn = store.connect(tmp_path / "usage.db")
    hour = START + 7 * 3600
    names = ["x'); DROP TABLE requests; --", "nul\x00model", "claude-haiku-5-5"]
    store.insert_records(conn, [rec(hour + 60 * i, name, input_tokens=150_000) for i, name in enumerate(names)])
    got = report(conn, groups.StatsQuery(by="model", since=hour, until=hour + 3600))  # the hourly sums
    assert {row["key"] for row in got["rows"]} == set(names)
    assert got["totals"]["requests"] == 3 and conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 3
    # haiku-5-5 past its 100k start: 150,000 at the long rate ($0.50 per MTok), the band not merged away.
    (haiku,) = [row for row in got["rows"] if row["key"] == "claude-haiku-5-5"]
    assert haiku["cost_usd"] == 0.075
