"""The ledger beyond the forwarder: transcripts and exports written into a real usage log, each
response once (usage/ledger.py), on the real Claude Code transcripts in tests/fixtures."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ccgate.errors import UsageError
from ccgate.reports import groups, stats
from ccgate.usage import ledger, store, transcripts
from ccgate.usage.model import UsageRecord
from ccgate.usage.roots import Root
from tests.reports.conftest import report_ctx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
V197 = FIXTURES / "cc-2.1.197" / "projects"
SESSION_WORDS = ["zebra", "purple elephant", "walrus", "fake answer", "fake thought", "fake task", "delegates"]


@pytest.fixture
def projects(tmp_path: Path) -> Path:
    """A copy of the 2.1.197 transcripts (tests change files)."""
    root = tmp_path / "projects"
    shutil.copytree(V197, root)
    return root


def responses(root: Path) -> dict[tuple[str | None, str | None], transcripts.TranscriptUsage]:
    out = {}
    for _name, result in transcripts.scan_all([root]):
        assert isinstance(result, transcripts.ScanResult)
        out.update({r.key: r for r in result.records})
    return out


def rows(conn) -> list[dict]:  # type: ignore[no-untyped-def]
    return [dict(r) for r in conn.execute("SELECT * FROM requests ORDER BY id")]


def test_each_response_becomes_one_row_and_a_second_import_adds_nothing(projects: Path, tmp_path: Path) -> None:
    expected = responses(projects)
    conn = store.connect(tmp_path / "usage.db")
    first = ledger.import_transcripts(conn, [Root(projects, "work")])
    assert first.added == len(expected) == len(rows(conn)) and first.merged == 0
    got = {(r["message_id"], r["request_id"]): r for r in rows(conn)}
    assert set(got) == set(expected)
    for key, record in expected.items():
        row = got[key]
        assert (row["output_tokens"], row["cache_read_tokens"], row["project"]) == (
            record.output_tokens,
            record.cache_read_tokens,
            record.cwd,
        )
        assert row["seen"] == 2 and row["profile"] == "work" and row["billing"] == "unknown"
    again = ledger.import_transcripts(conn, [Root(projects, "work")])
    assert (again.added, again.merged, again.updated, again.read_bytes) == (0, 0, 0, 0)
    assert len(rows(conn)) == len(expected)


def test_the_forwarders_row_and_the_transcripts_are_one_row_whichever_comes_first(
    projects: Path, tmp_path: Path
) -> None:
    expected = responses(projects)
    (first_key, first), (second_key, second) = list(expected.items())[:2]
    conn = store.connect(tmp_path / "usage.db")

    def gateway_row(record: transcripts.TranscriptUsage) -> UsageRecord:
        return UsageRecord(
            ts=(record.timestamp or 0) - 1,
            profile="max",
            method="POST",
            path="/v1/messages",
            endpoint="messages",
            status=200,
            outcome="ok",
            model=record.model,
            message_id=record.message_id,
            request_id=record.request_id,
            session_id=record.session_id,
            billing="subscription",
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            rl_5h_utilization=0.5,
        )

    # 1. The forwarder logged it first; the import adds the project to that row.
    store.insert_records(conn, [gateway_row(first)])
    summary = ledger.import_transcripts(conn, [Root(projects, None)])
    assert summary.merged == 1 and summary.added == len(expected) - 1
    # 2. The import came first; the forwarder's record takes the transcript row's place.
    store.insert_records(conn, [gateway_row(second)])
    by_key = {(r["message_id"], r["request_id"]): r for r in rows(conn)}
    assert len(by_key) == len(rows(conn)) == len(expected)
    for key, record in ((first_key, first), (second_key, second)):
        row = by_key[key]
        assert row["seen"] == 3 and row["profile"] == "max" and row["billing"] == "subscription"
        assert row["project"] == record.cwd and row["rl_5h_utilization"] == 0.5
        assert row["transcript_tokens"] == sum(getattr(record, f) for f in ledger.TOKEN_FIELDS[:6])
    # The hourly sums moved with the merged rows: a report from them equals one from raw rows.
    ctx = report_ctx()
    q = groups.StatsQuery(by="project")
    totals = stats.stats_report(conn, ctx, q).totals
    assert totals["requests"] == len(expected)


def test_a_file_rewritten_shorter_is_read_again_without_doubles(projects: Path, tmp_path: Path) -> None:
    conn = store.connect(tmp_path / "usage.db")
    ledger.import_transcripts(conn, [Root(projects, None)])
    before = len(rows(conn))
    session = sorted(projects.glob("*/*.jsonl"))[0]
    lines = session.read_bytes().splitlines(keepends=True)
    session.write_bytes(b"".join(lines[: len(lines) // 2]))
    ledger.import_transcripts(conn, [Root(projects, None)])
    session.write_bytes(b"".join(lines) + b'{"type": "assistant", "usage": {broken\n' + "ö".encode("latin-1"))
    summary = ledger.import_transcripts(conn, [Root(projects, None)])
    assert len(rows(conn)) == before and (summary.added, summary.updated) == (0, 0)
    assert summary.skipped.get("malformed", 0) == 1


def test_no_text_of_the_sessions_reaches_the_database(projects: Path, tmp_path: Path) -> None:
    db = tmp_path / "usage.db"
    conn = store.connect(db)
    ledger.import_transcripts(conn, [Root(projects, None)])
    conn.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("usage.db*"))
    corpus = b"".join(p.read_bytes() for p in projects.rglob("*.jsonl"))
    for words in SESSION_WORDS:
        assert words.encode() in corpus  # the sessions said it…
        assert words.encode() not in raw  # …and the log never heard it


def test_export_then_import_gives_the_same_reports_and_twice_changes_nothing(projects: Path, tmp_path: Path) -> None:
    here = store.connect(tmp_path / "here.db")
    ledger.import_transcripts(here, [Root(projects, "work")])
    lines = [json.dumps(row) for row in ledger.export_rows(here, 0.0, "laptop")]
    assert json.loads(lines[0])["format"] == "ccgate-ledger/1"
    assert all(json.loads(line)["machine"] == "laptop" for line in lines[1:])
    there = store.connect(tmp_path / "there.db")
    first = ledger.import_export(there, lines, "export.jsonl", "devbox")
    assert (first.rows, first.added) == (len(lines) - 1, len(lines) - 1)
    ctx = report_ctx()
    for by in ("day", "model", "session", "project", "profile"):
        q = groups.StatsQuery(by=by)
        assert (
            stats.stats_report(here, ctx, q).to_dict()["totals"]
            == stats.stats_report(there, ctx, q).to_dict()["totals"]
        )
    machines = stats.stats_report(there, ctx, groups.StatsQuery(by="machine")).rows
    assert [r["key"] for r in machines] == ["laptop"]
    again = ledger.import_export(there, lines, "export.jsonl", "devbox")
    assert (again.added, again.already_there) == (0, len(lines) - 1)


@pytest.mark.parametrize(
    ("first_line", "row", "message"),
    [
        ('{"format": "something-else"}', None, "not a ccgate ledger export"),
        ('{"format": "ccgate-ledger/1", "machine": "m"}', "not json", "line 3: not JSON"),
        ('{"format": "ccgate-ledger/1", "machine": "m"}', '{"ts": 1}', "line 3: not a ledger row"),
        (
            '{"format": "ccgate-ledger/1", "machine": "m"}',
            '{"origin": "m:1", "ts": 1, "method": "POST", "path": "/", "endpoint": "messages", "status": 200,'
            ' "outcome": "ok", "profile": null, "input_tokens": "lots"}',
            "field 'input_tokens' has the wrong type",
        ),
    ],
)
def test_a_bad_export_is_refused_whole(tmp_path: Path, first_line: str, row: str | None, message: str) -> None:
    conn = store.connect(tmp_path / "usage.db")
    good = json.dumps(
        {"origin": "m:9", "ts": 1, "method": "POST", "path": "/", "endpoint": "other", "status": 200, "outcome": "ok"}
        | {"profile": None}
    )
    with pytest.raises(UsageError, match=message):
        ledger.import_export(conn, [first_line, good, *([row] if row else [])], "x.jsonl", "here")
    assert rows(conn) == []
