"""The SSE usage parser gives the same answer whatever the chunking, line endings and compression."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccgate.usage.sse import MAX_LINE, StreamUsage
from tests.usage.streams import CASES, Case, render

VARIANTS = [("\n", False), ("\r\n", False), ("\r", False), ("\n", True), ("\r\n", True)]


def parse(chunks: list[bytes], encoding: str | None = None) -> dict[str, object]:
    parser = StreamUsage(encoding)
    for chunk in chunks:
        parser.feed(chunk)
    return parser.result()


def fixed_chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted({p % (len(data) + 1) for p in points}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def check(result: dict[str, object], case: Case) -> None:
    for key, value in case.expected.items():
        assert result[key] == value, (case.name, key)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize(("eol", "split"), VARIANTS)
def test_every_fixed_chunk_size(case: Case, eol: str, split: bool) -> None:
    """Every chunk size from 1 byte to the whole stream gives the same usage."""
    data = render(case.events, eol, split)
    whole = parse([data])
    check(whole, case)
    for size in range(1, len(data) + 1):
        assert parse(fixed_chunks(data, size)) == whole, size


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("encoding", ["gzip", "deflate-zlib", "deflate-raw"])
def test_compressed_every_chunk_size(case: Case, encoding: str) -> None:
    data = render(case.events, "\n")
    if encoding == "gzip":
        packed, header = gzip.compress(data), "gzip"
    elif encoding == "deflate-zlib":
        packed, header = zlib.compress(data), "deflate"
    else:
        c = zlib.compressobj(wbits=-15)
        packed, header = c.compress(data) + c.flush(), "deflate"
    expected = parse([data])
    check(expected, case)
    for size in range(1, len(packed) + 1):
        assert parse(fixed_chunks(packed, size), header) == expected, size


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.sampled_from(CASES),
    variant=st.sampled_from(VARIANTS),
    points=st.lists(st.integers(min_value=0, max_value=100_000), max_size=60),
    gzipped=st.booleans(),
)
def test_any_chunking_property(case: Case, variant: tuple[str, bool], points: list[int], gzipped: bool) -> None:
    """Arbitrary cut points (1-byte pieces included), plain or gzip, as a stream flushed per event."""
    data = render(case.events, *variant)
    if gzipped:
        # The upstream flushes per write: a gzip stream made of many sync-flushed blocks.
        comp = zlib.compressobj(wbits=31)
        parts = [comp.compress(piece) + comp.flush(zlib.Z_SYNC_FLUSH) for piece in cut(data, points[:5])]
        wire = b"".join(parts) + comp.flush()
        result = parse(cut(wire, points), "gzip")
    else:
        result = parse(cut(data, points))
    check(result, case)


def test_truncated_stream_keeps_what_was_seen() -> None:
    """A stream cut anywhere reports the usage of the events completed before the cut (abort path)."""
    case = CASES[0]
    data = render(case.events)
    start_end = data.index(b"\n\n") + 2  # end of the message_start event
    for stop in range(len(data)):
        result = parse([data[:stop]])
        if stop < start_end:
            assert result["usage"] == {}
        else:
            assert result["usage"]["input_tokens"] == 12  # type: ignore[index]
            assert result["model"] == "claude-sonnet-5-5"


def test_only_usage_events_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Content deltas and pings are never JSON-parsed: the cost of parsing scales with usage events only."""
    import ccgate.usage.sse as sse

    calls: list[bytes] = []
    real = sse.json.loads

    def counting(payload: bytes) -> object:
        calls.append(payload)
        return real(payload)

    monkeypatch.setattr(sse.json, "loads", counting)
    case = CASES[2]  # thinking: two message_delta frames
    parse(fixed_chunks(render(case.events), 7))
    assert len(calls) == 3
    assert all(b"message_start" in c or b"message_delta" in c for c in calls)


def test_unknown_encoding_and_broken_gzip_are_reported_not_raised() -> None:
    assert "decode_error" in parse([b"abc"], "br")
    broken = parse([gzip.compress(render(CASES[0].events))[:30] + b"\x00garbage" * 10], "gzip")
    assert "decode_error" in broken


def test_concatenated_gzip_members() -> None:
    data = render(CASES[0].events)
    half = len(data) // 2
    wire = gzip.compress(data[:half]) + gzip.compress(data[half:])
    check(parse(fixed_chunks(wire, 13), "gzip"), CASES[0])


def test_unnamed_events_and_comments() -> None:
    """Events without an `event:` line are recognised by their JSON type; comments and ids are ignored."""
    text = (
        b": hello\n"
        b"id: 1\n"
        b'data: {"type":"message_start","message":{"id":"m","model":"x",'
        b'"usage":{"input_tokens":5,"output_tokens":1}}}\n'
        b"\n"
        b'data: {"type":"content_block_delta","delta":{"text":"hi"}}\n'
        b"\n"
        b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}\n'
        b"\n"
    )
    result = parse(fixed_chunks(text, 3))
    assert result["usage"] == {"input_tokens": 5, "output_tokens": 9}
    assert result["stop_reason"] == "end_turn"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_usage_agrees_with_official_sdk_accumulator(case: Case) -> None:
    """The Anthropic SDK's own stream accumulator, fed the same events, ends with the same usage."""
    import json

    from anthropic.lib.streaming._messages import accumulate_event

    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event, data in case.events:
        if event in (":", "error", "ping"):
            continue  # not message-building events for the SDK's accumulator
        snapshot = accumulate_event(event=json.loads(data), current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    sdk = snapshot.usage.to_dict()
    ours = parse([render(case.events)])["usage"]
    assert isinstance(ours, dict)
    for key in ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        assert ours.get(key) == sdk.get(key), key
    for nested in ("cache_creation", "server_tool_use"):
        if sdk.get(nested) is not None:
            assert ours[nested] == sdk[nested], nested


def _delta_line(length: int) -> bytes:
    """A message_delta `data:` line of exactly `length` bytes (padded inside its JSON)."""
    head, tail = b'data: {"type":"message_delta","usage":{"output_tokens":7},"pad":"', b'"}'
    return head + b"p" * (length - len(head) - len(tail)) + tail


@pytest.mark.parametrize(("carried", "read"), [(MAX_LINE, True), (MAX_LINE + 1, False)])
def test_a_partial_line_is_carried_up_to_max_line_bytes_then_dropped(carried: int, read: bool) -> None:
    line = _delta_line(MAX_LINE + 100)
    head = b"event: message_delta\n"
    after = b'\n\nevent: message_delta\ndata: {"usage":{"input_tokens":3}}\n\n'
    # The first chunk leaves exactly `carried` bytes of the line waiting for its end.
    chunks = [head + line[: carried // 2], line[carried // 2 : carried], line[carried:] + after]
    result = parse(chunks)
    assert result["usage"] == ({"output_tokens": 7, "input_tokens": 3} if read else {"input_tokens": 3})
    # A line that arrives whole inside one chunk is in memory anyway: it is read whatever its length.
    assert parse([head + line + after])["usage"] == {"output_tokens": 7, "input_tokens": 3}


def test_a_gzip_bomb_stops_being_read_at_once_whatever_the_chunk_size() -> None:
    from tests.fakes.upstream import gzip_bomb

    bomb = gzip_bomb(1024)
    for size in (len(bomb), 589_824, 65536, 1400):
        parser = StreamUsage("gzip")
        for chunk in fixed_chunks(bomb, size):
            parser.feed(chunk)
        assert "decode_error" in parser.result()
        assert parser._decoder is not None and parser._decoder.produced < 2 * 1024 * 1024, size


def test_the_decoding_budget_is_exact() -> None:
    from ccgate.usage.inflate import Inflater

    data = bytes(range(256)) * 4096  # 1 MiB that does not compress much
    packed = gzip.compress(data)
    for limit, complete in ((len(data), True), (len(data) - 1, False)):
        d = Inflater("gzip", limit=limit)
        out = b"".join(d.feed(packed))
        assert (out == data, d.error is None) == (complete, complete)
        assert len(out) == min(limit, len(data))
