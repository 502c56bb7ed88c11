"""The transcript scanner on real Claude Code files (tests/fixtures/transcripts) and on damaged,
growing, rewritten and oversized ones built from those real lines."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccgate.usage import transcripts
from ccgate.usage.transcripts import (
    FileState,
    ScanResult,
    TranscriptError,
    TranscriptUsage,
    find_transcripts,
    scan,
    scan_all,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "transcripts"
V197 = FIXTURES / "cc-2.1.197" / "projects"
V332 = FIXTURES / "cc-2.1.332" / "projects"
ALPHA_197 = V197 / "-tmp-ccgate-fixture-alpha"
NESTED_197 = "1a8ebc51-36a8-492a-ba92-fcead1c02e55"  # main loop → agent aca28626… → agent a18d743b…
PLAIN_197 = V197 / "-tmp-ccgate-fixture-beta" / "721abca3-3e00-44fe-a0be-a123db923611.jsonl"
# What the fake upstream answered every request with (tests.fakes.upstream.DEFAULT_USAGE), split.
FAKE_TOKENS = {
    "input_tokens": 12,
    "cache_read_tokens": 4000,
    "cache_write_5m_tokens": 100,
    "cache_write_1h_tokens": 200,
    "cache_write_other_tokens": 0,
    "output_tokens": 57,
    "web_search_requests": 0,
    "web_fetch_requests": 0,
}
# Words of the sessions themselves: prompts, the fake's answers, thoughts and agent tasks.
FIX = "check the file and its permissions"
SESSION_WORDS = ["zebra", "purple elephant", "walrus", "fake answer", "fake thought", "fake task", "delegates"]


def _results(*paths: Path) -> dict[str, ScanResult]:
    results = {}
    for name, result in scan_all(paths):
        assert isinstance(result, ScanResult), result
        results[name] = result
    return results


def _by_key(path: Path) -> dict[tuple[str | None, str | None], TranscriptUsage]:
    return {r.key: r for result in _results(path).values() for r in result.records}


def _summary(records: dict[Any, TranscriptUsage]) -> set[tuple[Any, ...]]:
    return {
        (r.message_id, r.request_id, r.agent_id, r.is_sidechain, r.output_tokens, r.stop_reason, Path(r.path).name)
        for r in records.values()
    }


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _assistant(path: Path = PLAIN_197) -> dict[str, Any]:
    """A real assistant line of 2.1.197, as a dict to vary."""
    line = next(raw for raw in _lines(path) if b'"type":"assistant"' in raw)
    data: dict[str, Any] = json.loads(line)
    return data


def _dump(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _response(n: int, output: int = 57, stop: str | None = "end_turn", text: str = "hello") -> bytes:
    data = _assistant()
    data["message"]["id"], data["requestId"] = f"msg_t_{n}", f"req_t_{n}"
    data["message"]["usage"]["output_tokens"] = output
    data["message"]["stop_reason"] = stop
    data["message"]["content"] = [{"type": "text", "text": text}]
    return _dump(data)


def _prompt(text: str) -> bytes:
    data = json.loads(next(raw for raw in _lines(PLAIN_197) if b'"type":"user"' in raw))
    data["message"]["content"] = text
    return _dump(data)


# --- real files -------------------------------------------------------------------------------


def test_finds_sessions_and_nested_subagents_but_not_their_meta_files() -> None:
    found = [p.relative_to(V197).as_posix() for p in find_transcripts(V197)]
    assert found == [
        "-tmp-ccgate-fixture-alpha/1a8ebc51-36a8-492a-ba92-fcead1c02e55.jsonl",
        "-tmp-ccgate-fixture-alpha/f4ddee8e-ae64-4c0d-8fc0-5f47866b7f18.jsonl",
        "-tmp-ccgate-fixture-alpha/1a8ebc51-36a8-492a-ba92-fcead1c02e55/subagents/agent-a18d743b47bbf7283.jsonl",
        "-tmp-ccgate-fixture-alpha/1a8ebc51-36a8-492a-ba92-fcead1c02e55/subagents/agent-aca2862642aa4df41.jsonl",
        "-tmp-ccgate-fixture-beta/721abca3-3e00-44fe-a0be-a123db923611.jsonl",
        "-tmp-ccgate-fixture-beta/d39b8b93-5718-4967-a3f2-0b4defd170f5.jsonl",
        "-tmp-ccgate-fixture-beta/d39b8b93-5718-4967-a3f2-0b4defd170f5/subagents/agent-a50a8f7d6d7f10ede.jsonl",
    ]
    # One project's directory works as a root too.
    assert [p.name for p in find_transcripts(ALPHA_197)] == [
        "1a8ebc51-36a8-492a-ba92-fcead1c02e55.jsonl",
        "f4ddee8e-ae64-4c0d-8fc0-5f47866b7f18.jsonl",
        "agent-a18d743b47bbf7283.jsonl",
        "agent-aca2862642aa4df41.jsonl",
    ]
    assert list(find_transcripts(V197 / "no-such-dir")) == []


def test_claude_code_2_1_197_one_record_per_response() -> None:
    records = _by_key(V197)
    main, level1, level2 = f"{NESTED_197}.jsonl", "agent-aca2862642aa4df41.jsonl", "agent-a18d743b47bbf7283.jsonl"
    slow_agent, other = "agent-a50a8f7d6d7f10ede.jsonl", "d39b8b93-5718-4967-a3f2-0b4defd170f5.jsonl"
    assert _summary(records) == {
        ("msg_fake_000002", "req_fake_000002", None, False, 57, "tool_use", main),
        ("msg_fake_000003", "req_fake_000003", "aca2862642aa4df41", True, 57, "tool_use", level1),
        ("msg_fake_000004", "req_fake_000004", "a18d743b47bbf7283", True, 57, "end_turn", level2),
        ("msg_fake_000005", "req_fake_000005", "aca2862642aa4df41", True, 57, "end_turn", level1),
        ("msg_fake_000006", "req_fake_000006", None, False, 57, "end_turn", main),
        ("msg_fake_000010", "req_fake_000010", None, False, 57, "end_turn", PLAIN_197.name),
        ("msg_fake_000012", "req_fake_000012", None, False, 57, "tool_use", other),
        # 2.1.197 wrote this subagent's lines before the stream ended: message_start's output count.
        ("msg_fake_000013", "req_fake_000013", "a50a8f7d6d7f10ede", True, 1, None, slow_agent),
        ("msg_fake_000014", "req_fake_000014", None, False, 57, "end_turn", other),
    }
    first = records[("msg_fake_000002", "req_fake_000002")]
    assert dataclasses.asdict(first) == {
        "message_id": "msg_fake_000002",
        "request_id": "req_fake_000002",
        "session_id": NESTED_197,
        "agent_id": None,
        "is_sidechain": False,
        "cwd": "/tmp/ccgate-fixture/alpha",
        "git_branch": "HEAD",
        "timestamp": _ts("2026-12-01T21:34:18.361Z"),  # the last of its three lines
        "version": "2.1.197",
        "model": "claude-sonnet-5",
        "stop_reason": "tool_use",
        **FAKE_TOKENS,
        "service_tier": "standard",
        "speed": "standard",
        "inference_geo": None,
        "path": str(ALPHA_197 / main),
    }
    # A subagent's lines name the parent session.
    assert records[("msg_fake_000004", "req_fake_000004")].session_id == NESTED_197


def test_claude_code_2_1_332_one_record_per_response() -> None:
    records = _by_key(V332)
    main = "57316117-4339-4672-8f09-d8a2dba39fe5.jsonl"
    level1, level2 = "agent-a8fb62ba2d989fb94.jsonl", "agent-a2f9f8e533465eb56.jsonl"
    plain = "5fa164fb-6969-4a2a-bd91-f5702adf7f72.jsonl"
    assert _summary(records) == {
        ("msg_fake_000001", "req_fake_000001", None, False, 57, "tool_use", main),
        ("msg_fake_000002", "req_fake_000002", None, False, 57, "end_turn", main),
        ("msg_fake_000003", "req_fake_000003", "a8fb62ba2d989fb94", True, 57, "tool_use", level1),
        ("msg_fake_000004", "req_fake_000004", "a2f9f8e533465eb56", True, 57, "end_turn", level2),
        ("msg_fake_000005", "req_fake_000005", "a8fb62ba2d989fb94", True, 57, "end_turn", level1),
        ("msg_fake_000006", "req_fake_000006", None, False, 57, "end_turn", main),
        ("msg_fake_000013", "req_fake_000013", None, False, 57, "end_turn", plain),
    }
    for record in records.values():
        assert {k: getattr(record, k) for k in FAKE_TOKENS} == FAKE_TOKENS
        assert (record.model, record.version, record.speed) == ("claude-sonnet-5-5", "2.1.332", "standard")


def test_counts_of_a_real_session_with_subagents_an_error_and_new_line_types() -> None:
    results = _results(V197, V332)
    nested = results[str(ALPHA_197 / f"{NESTED_197}.jsonl")].counts
    # 12 lines: 2 responses on 5 lines (thinking+text+tool_use, thinking+text); the Agent tool's
    # result line repeats the subagent's usage and is not a response.
    assert (nested.lines, nested.responses, nested.repeats, nested.api_errors) == (12, 2, 3, 0)
    assert nested.other_types == {"user": 1}
    assert not nested.skipped and nested.partial_bytes == 0 and nested.restarted is None
    assert nested.read_bytes == (ALPHA_197 / f"{NESTED_197}.jsonl").stat().st_size
    # The failed requests: a <synthetic> line each, counted as an error, no record.
    for error_file in (
        ALPHA_197 / "f4ddee8e-ae64-4c0d-8fc0-5f47866b7f18.jsonl",
        V332 / "-tmp-ccgate-fixture-alpha" / "548e5f72-b470-4bbb-a5f0-9219181252bd.jsonl",
    ):
        result = results[str(error_file)]
        assert (result.records, result.counts.api_errors) == ([], 1)
    # 2.1.332's request snapshots (api-request-shape/-blob), cost-state and the rest hold no usage object.
    newer = results[str(V332 / "-tmp-ccgate-fixture-alpha" / "57316117-4339-4672-8f09-d8a2dba39fe5.jsonl")].counts
    assert (newer.lines, newer.responses, newer.repeats, newer.other_types, newer.skipped) == (37, 3, 4, {}, {})


def test_records_hold_no_text_of_the_session() -> None:
    corpus = b"".join(p.read_bytes() for root in (V197, V332) for p in find_transcripts(root))
    for word in SESSION_WORDS:
        assert word.encode() in corpus  # the files do hold them...
    for result in _results(V197, V332).values():
        for record in result.records:
            text = repr(record) + json.dumps(dataclasses.asdict(record))
            assert not [w for w in SESSION_WORDS if w in text], text  # ...the records never


# --- incremental ------------------------------------------------------------------------------


def test_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    shutil.copy(PLAIN_197, path)
    records, state, _ = scan(path)
    assert [r.message_id for r in records] == ["msg_fake_000010"]
    again, state2, counts2 = scan(path, state)
    assert (again, state2, counts2.read_bytes, counts2.lines) == ([], state, 0, 0)
    # Same size and mtime, other bytes: a scan that only stats cannot see it (and does not look).
    stat = path.stat()
    path.write_bytes(path.read_bytes().replace(b"msg_fake_000010", b"msg_fake_999999"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert scan(path, state).records == []


def test_appended_lines_are_read_from_the_offset(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    shutil.copy(PLAIN_197, path)
    _, state, _ = scan(path)
    added = _prompt("next question") + _response(1) + _response(2)
    with path.open("ab") as f:
        f.write(added)
    records, state2, counts = scan(path, state)
    assert [r.message_id for r in records] == ["msg_t_1", "msg_t_2"]
    assert (counts.read_bytes, counts.lines, counts.restarted) == (len(added), 3, None)
    assert state2.offset == state2.size == path.stat().st_size


def test_incomplete_last_line_waits_for_the_next_scan(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    whole = _response(1) + _response(2)
    cut = len(_response(1)) + 300
    path.write_bytes(whole[:cut])
    records, state, counts = scan(path)
    assert [r.message_id for r in records] == ["msg_t_1"]
    assert (state.offset, counts.partial_bytes, counts.lines, dict(counts.skipped)) == (len(_response(1)), 300, 1, {})
    with path.open("ab") as f:
        f.write(whole[cut:])
    records, state, counts = scan(path, state)
    assert [r.message_id for r in records] == ["msg_t_2"]
    assert (state.offset, counts.partial_bytes, counts.read_bytes) == (len(whole), 0, len(whole) - len(_response(1)))


def test_response_straddling_two_scans_comes_again_with_its_final_usage(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    early = _assistant()  # the thinking block's line, written before the stream's message_delta
    early["message"]["content"] = [{"type": "thinking", "thinking": "hmm", "signature": "x"}]
    early["message"]["usage"]["output_tokens"], early["message"]["stop_reason"] = 1, None
    late = _assistant()  # the text block's line, written after it
    late["timestamp"] = "2026-12-01T21:34:20.000Z"
    path.write_bytes(_dump(early))
    first, state, _ = scan(path)
    with path.open("ab") as f:
        f.write(_dump(late))
    second, _, counts = scan(path, state)
    assert [(r.key, r.output_tokens, r.stop_reason) for r in first] == [
        (("msg_fake_000010", "req_fake_000010"), 1, None)
    ]
    assert [(r.key, r.output_tokens, r.stop_reason, r.timestamp) for r in second] == [
        (("msg_fake_000010", "req_fake_000010"), 57, "end_turn", _ts("2026-12-01T21:34:20.000Z"))
    ]
    assert counts.responses == 1


def test_lines_of_one_response_apart_give_one_record_with_the_last_usage(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(_response(1, output=5, stop=None) + _response(2) + _response(1, output=9))
    records, _, counts = scan(path)
    assert [(r.message_id, r.output_tokens) for r in records] == [("msg_t_1", 9), ("msg_t_2", 57)]
    assert (counts.responses, counts.repeats) == (2, 1)


def test_file_rewritten_shorter_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(_response(1) + _response(2) + _response(3))
    _, state, _ = scan(path)
    path.write_bytes(_response(4))  # same inode, shorter than the old offset
    records, state, counts = scan(path, state)
    assert ([r.message_id for r in records], counts.restarted) == (["msg_t_4"], "truncated")
    assert state.offset == len(_response(4))


def test_file_rewritten_with_another_head_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(_response(1))
    _, state, _ = scan(path)
    path.write_bytes(_response(5) + _response(6))  # longer, but not an append
    records, _, counts = scan(path, state)
    assert ([r.message_id for r in records], counts.restarted) == (["msg_t_5", "msg_t_6"], "rewritten")


def test_file_replaced_by_another_is_read_from_the_start(tmp_path: Path) -> None:
    path, other = tmp_path / "s.jsonl", tmp_path / "new.jsonl"
    path.write_bytes(_response(1))
    _, state, _ = scan(path)
    other.write_bytes(_response(1) + _response(2))  # same head, but a new file renamed over it
    other.replace(path)
    records, _, counts = scan(path, state)
    assert ([r.message_id for r in records], counts.restarted) == (["msg_t_1", "msg_t_2"], "replaced")


def test_head_hash_covers_exactly_the_first_head_bytes(tmp_path: Path) -> None:
    assert transcripts.HEAD_BYTES == 4096
    path = tmp_path / "s.jsonl"

    def pad_to(length: int) -> bytes:  # a prompt line of exactly `length` bytes
        line = _prompt("")
        return _prompt("p" * (length - len(line)))

    for offset, head_len in ((4095, 4095), (4096, 4096), (4097, 4096)):
        path.write_bytes(pad_to(offset))
        assert scan(path).state.offset == offset
        assert scan(path).state.head_len == head_len
    body = pad_to(4200) + _response(1)
    for changed_byte, restarted in ((4095, "rewritten"), (4096, None)):
        path.write_bytes(body)
        _, state, _ = scan(path)
        data = bytearray(body + _response(2))
        data[changed_byte] = ord("q")  # a byte either side of the head's end (in the prompt line's cwd)
        path.write_bytes(bytes(data))
        assert scan(path, state).counts.restarted == restarted


def test_file_rewritten_past_its_head_is_read_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    long_prompt = _prompt("p" * 6000)
    path.write_bytes(long_prompt + _response(1))
    _, state, _ = scan(path)
    # The first 4096 bytes are the same, the rest moved by one byte: the old offset is mid-line.
    path.write_bytes(long_prompt.replace(b"ppp", b"pppp", 1) + _response(1) + _response(2))
    records, _, counts = scan(path, state)
    assert ([r.message_id for r in records], counts.restarted) == (["msg_t_1", "msg_t_2"], "rewritten")


def test_state_survives_a_round_trip_through_json(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(_response(1))
    _, state, _ = scan(path)
    restored = FileState(**json.loads(json.dumps(dataclasses.asdict(state))))
    assert scan(path, restored) == ([], restored, transcripts.ScanCounts())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=14612), max_size=8), block=st.sampled_from([1, 7, 100, 4096]))
def test_scanning_a_growing_file_at_any_points_adds_up_to_each_response_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cuts: list[int], block: int
) -> None:
    monkeypatch.setattr(transcripts, "BLOCK_SIZE", block)
    source = (ALPHA_197 / f"{NESTED_197}.jsonl").read_bytes()
    assert len(source) == 14612
    path = tmp_path / f"grow-{block}-{len(cuts)}.jsonl"
    path.unlink(missing_ok=True)
    merged: dict[Any, TranscriptUsage] = {}
    state, lines, errors = None, 0, 0
    for end in [*sorted(cuts), len(source)]:
        path.write_bytes(source[:end])
        records, state, counts = scan(path, state)
        merged.update({r.key: r for r in records})  # the documented merge: a later record replaces
        lines, errors = lines + counts.lines, errors + sum(counts.skipped.values())
    assert {(k, r.output_tokens, r.stop_reason, r.timestamp) for k, r in merged.items()} == {
        (("msg_fake_000002", "req_fake_000002"), 57, "tool_use", _ts("2026-12-01T21:34:18.361Z")),
        (("msg_fake_000006", "req_fake_000006"), 57, "end_turn", _ts("2026-12-01T21:34:18.569Z")),
    }
    assert (lines, errors) == (12, 0)


# --- damaged and unknown lines ----------------------------------------------------------------


def test_non_utf8_bytes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    bad_cwd = _response(3).replace(b'"cwd":"/tmp/ccgate-fixture/beta"', b'"cwd":"/tmp/caf\xe9"')
    path.write_bytes(
        _prompt("a prompt").replace(b"a prompt", b"a \xff\xfe prompt")  # a prompt line: never decoded
        + _response(1, text="x").replace(b'"text":"x"', b'"text":"\xc3\x28 broken"')  # in skipped text
        + _response(2)
        + bad_cwd  # in a kept field: read with U+FFFD
        + b'\xff\xfe"usage" \x00 garbage\n'  # not JSON at all
        + _response(4)
    )
    records, _, counts = scan(path)
    assert [(r.message_id, r.cwd) for r in records] == [
        ("msg_t_1", "/tmp/ccgate-fixture/beta"),
        ("msg_t_2", "/tmp/ccgate-fixture/beta"),
        ("msg_t_3", "/tmp/caf\ufffd"),
        ("msg_t_4", "/tmp/ccgate-fixture/beta"),
    ]
    assert (counts.lines, counts.not_utf8, dict(counts.skipped)) == (6, 1, {"malformed": 1})


def test_unknown_and_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    no_usage = _assistant()
    del no_usage["message"]["usage"]
    no_usage["message"]["content"] = [{"type": "tool_use", "id": "t", "name": "X", "input": {"usage": {"a": 1}}}]
    no_ids = _assistant()
    del no_ids["message"]["id"], no_ids["requestId"]
    path.write_bytes(
        b'{"type":"future-kind","usage":{"input_tokens":5}}\n'  # holds usage, type unknown
        + b'{"type":"another-kind","x":1}\n'  # holds no usage: just a line
        + _response(1)
        + b'["usage"]\n'  # JSON, not an object
        + b'{"type":"assistant","message":"usage"}\n'  # message not an object
        + b'{"type":"assistant","usage":{"x":1}, "message":\n'  # cut short
        + _dump(no_usage)
        + _dump(no_ids)
        + b"\n"
        + _response(2)
    )
    records, _, counts = scan(path)
    assert [r.message_id for r in records] == ["msg_t_1", "msg_t_2"]
    assert counts.other_types == {"future-kind": 1}
    assert counts.skipped == {"malformed": 3, "no_usage": 1, "no_ids": 1}
    assert (counts.lines, counts.responses) == (10, 2)


@pytest.mark.parametrize("block", [64, 4096])
def test_lines_longer_than_max_line_are_skipped_without_losing_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    monkeypatch.setattr(transcripts, "MAX_LINE", 2000)
    monkeypatch.setattr(transcripts, "BLOCK_SIZE", block)

    def sized(n: int, length: int) -> bytes:  # an assistant line of `length` bytes before its newline
        return _response(n, text="t" * (length - len(_response(n, text="")) + 1))

    assert len(sized(1, 2000)) == 2001
    path = tmp_path / "s.jsonl"
    path.write_bytes(sized(1, 2000) + sized(2, 2001) + _prompt("p" * 9000) + sized(3, 9000) + _response(4))
    records, state, counts = scan(path)
    assert [r.message_id for r in records] == ["msg_t_1", "msg_t_4"]
    assert (counts.lines, dict(counts.skipped)) == (5, {"oversized": 2})
    assert state.offset == path.stat().st_size


def test_a_line_longer_than_max_line_is_not_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcripts, "MAX_LINE", 1024 * 1024)
    monkeypatch.setattr(transcripts, "BLOCK_SIZE", 256 * 1024)
    path = tmp_path / "s.jsonl"
    path.write_bytes(_prompt("p" * 40_000_000) + _response(1))  # a 40 MB tool output, say
    tracemalloc.start()
    try:
        records, _, counts = scan(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ([r.message_id for r in records], counts.lines, dict(counts.skipped)) == (["msg_t_1"], 2, {})
    assert peak < 4 * 1024 * 1024  # MAX_LINE and a block or two, not the line


def test_an_oversized_line_at_the_end_stays_unconsumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transcripts, "MAX_LINE", 2000)
    monkeypatch.setattr(transcripts, "BLOCK_SIZE", 256)
    path = tmp_path / "s.jsonl"
    head = _response(1)
    path.write_bytes(head + b'{"type":"assistant","usage":' + b"1" * 5000)
    records, state, counts = scan(path)
    assert ([r.message_id for r in records], state.offset, counts.partial_bytes) == (["msg_t_1"], len(head), 5028)


def test_a_file_that_vanishes_is_reported_and_the_rest_scanned(tmp_path: Path) -> None:
    project = tmp_path / "-home-me-proj"
    project.mkdir()
    for n in (1, 2, 3):
        (project / f"s{n}.jsonl").write_bytes(_response(n))
    results = scan_all([tmp_path])
    first = next(results)
    (project / "s2.jsonl").unlink()
    rest = list(results)
    outcomes = [
        (Path(p).name, str(res) if isinstance(res, TranscriptError) else [r.message_id for r in res.records])
        for p, res in [first, *rest]
    ]
    assert outcomes == [
        ("s1.jsonl", ["msg_t_1"]),
        ("s2.jsonl", f"reading transcript {project / 's2.jsonl'} failed: No such file or directory; {FIX}"),
        ("s3.jsonl", ["msg_t_3"]),
    ]


def test_scan_of_a_missing_file_raises_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError) as caught:
        scan(tmp_path / "gone.jsonl")
    assert str(caught.value) == f"reading transcript {tmp_path / 'gone.jsonl'} failed: No such file or directory; {FIX}"
