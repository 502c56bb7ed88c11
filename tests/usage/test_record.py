"""build_record: what one exchange becomes in the usage log."""

from __future__ import annotations

import gzip
import itertools
import json
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccgate.usage.model import Exchange
from ccgate.usage.record import build_record, classify_endpoint, parse_user_id
from ccgate.usage.sse import StreamUsage
from tests.usage.streams import CASES, frame, render, tokens_of

SESSION = "5f0c7d1e-9a55-4d3c-8a31-6b1f3a2c9e10"
ACCOUNT = "0b6f8e44-2f0e-4a8e-9a54-7c1d2e3f4a5b"
UNIFIED = {
    "anthropic-ratelimit-unified-status": "allowed_warning",
    "anthropic-ratelimit-unified-5h-status": "allowed",
    "anthropic-ratelimit-unified-5h-utilization": "0.82",
    "anthropic-ratelimit-unified-5h-reset": "1764000000",
    "anthropic-ratelimit-unified-7d-status": "allowed_warning",
    "anthropic-ratelimit-unified-7d-utilization": "1.04",
    "anthropic-ratelimit-unified-7d-reset": "1764500000",
    "anthropic-ratelimit-unified-representative-claim": "seven_day",
    "anthropic-ratelimit-unified-overage-status": "rejected",
}
API_FAMILY = {
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-tokens-reset": "2026-11-24T13:00:00Z",
}
JSON_USAGE = {
    "input_tokens": 21,
    "output_tokens": 333,
    "cache_creation_input_tokens": 1500,
    "cache_read_input_tokens": 7000,
    "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 1000},
    "server_tool_use": {"web_search_requests": 3, "web_fetch_requests": 1},
    "service_tier": "standard",
}


def exchange(**kw: Any) -> Exchange:
    base: dict[str, Any] = dict(
        started_at=1764000000.5,
        profile="max",
        method="POST",
        path="/v1/messages?beta=true",
        status=200,
        outcome="ok",
        ttfb_ms=120.0,
        duration_ms=900.0,
        request_bytes=1000,
        response_bytes=2000,
        credential_kind="oauth",
        credential_fp="a1b2c3d4",
    )
    base.update(kw)
    return Exchange(**base)


def body(**kw: Any) -> bytes:
    return json.dumps({"model": "claude-sonnet-5-5", "max_tokens": 100, "messages": [], **kw}).encode()


def message_json(**kw: Any) -> bytes:
    return json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "model": "claude-sonnet-5-5-20261101",
            "stop_reason": "end_turn",
            "content": [{"type": "text", "text": "hi"}],
            "usage": JSON_USAGE,
            **kw,
        }
    ).encode()


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1/messages?beta=true", "messages"),
        ("/v1/messages", "messages"),
        ("/v1/messages/count_tokens?beta=true", "count_tokens"),
        ("/v1/models?limit=1000", "models"),
        ("/api/hello", "other"),
        ("/", "other"),
    ],
)
def test_endpoint_classification(path: str, endpoint: str) -> None:
    assert classify_endpoint(path) == endpoint


def test_user_id_both_formats() -> None:
    legacy = f"user_{'ab' * 32}_account_{ACCOUNT}_session_{SESSION}"
    assert parse_user_id(legacy) == (SESSION, ACCOUNT)
    assert parse_user_id(f"user_{'ab' * 32}_account__session_{SESSION}") == (SESSION, None)
    as_json = json.dumps({"device_id": "d" * 64, "account_uuid": ACCOUNT, "session_id": SESSION})
    assert parse_user_id(as_json) == (SESSION, ACCOUNT)
    setup_token = json.dumps({"device_id": "d" * 64, "account_uuid": "", "session_id": SESSION})
    assert parse_user_id(setup_token) == (SESSION, None)
    assert parse_user_id("someone") == (None, None)


def test_non_stream_json_with_all_token_classes() -> None:
    rec = build_record(
        exchange(
            request_body=body(
                metadata={"user_id": json.dumps({"account_uuid": ACCOUNT, "session_id": SESSION})}, speed="fast"
            ),
            response_body=message_json(),
            request_headers={"user-agent": "claude-cli/2.1.330 (external, cli)", "x-app": "cli"},
            response_headers={"request-id": "req_011", **UNIFIED},
        )
    )
    assert (rec.request_model, rec.model, rec.message_id) == (
        "claude-sonnet-5-5",
        "claude-sonnet-5-5-20261101",
        "msg_1",
    )
    assert rec.stream is False and rec.stop_reason == "end_turn" and rec.speed == "fast"
    assert (rec.session_id, rec.account_id) == (SESSION, ACCOUNT)
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens) == (21, 333, 7000)
    assert (rec.cache_write_5m_tokens, rec.cache_write_1h_tokens, rec.cache_write_other_tokens) == (200, 1000, 300)
    assert rec.cache_write_tokens == 1500
    assert (rec.web_search_requests, rec.web_fetch_requests, rec.service_tier) == (3, 1, "standard")
    assert rec.request_id == "req_011" and rec.billing == "subscription"
    assert (rec.rl_status, rec.rl_5h_status, rec.rl_5h_utilization, rec.rl_5h_reset) == (
        "allowed_warning",
        "allowed",
        0.82,
        1764000000,
    )
    assert (rec.rl_7d_status, rec.rl_7d_utilization, rec.rl_7d_reset) == ("allowed_warning", 1.04, 1764500000)
    assert (rec.rl_representative_claim, rec.rl_overage_status) == ("seven_day", "rejected")
    assert (rec.user_agent, rec.x_app, rec.credential_kind, rec.credential_fp) == (
        "claude-cli/2.1.330 (external, cli)",
        "cli",
        "oauth",
        "a1b2c3d4",
    )


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_json_body_is_decoded(encoding: str) -> None:
    raw = message_json()
    packed = gzip.compress(raw) if encoding == "gzip" else zlib.compress(raw)
    rec = build_record(exchange(response_body=packed, response_headers={"Content-Encoding": encoding}))
    assert rec.output_tokens == 333 and rec.cache_write_other_tokens == 300


def test_session_header_wins_over_metadata() -> None:
    legacy = f"user_{'ab' * 32}_account_{ACCOUNT}_session_{SESSION}"
    rec = build_record(
        exchange(
            request_body=body(metadata={"user_id": legacy}),
            request_headers={"X-Claude-Code-Session-Id": "header-session"},
        )
    )
    assert rec.session_id == "header-session" and rec.account_id == ACCOUNT


def test_subagent_headers() -> None:
    rec = build_record(
        exchange(
            request_headers={
                "x-claude-code-agent-id": "agent-2",
                "x-claude-code-parent-agent-id": "agent-1",
                "x-app": "cli-bg",
            }
        )
    )
    assert (rec.agent_id, rec.parent_agent_id, rec.x_app) == ("agent-2", "agent-1", "cli-bg")
    main_loop = build_record(exchange())
    assert main_loop.agent_id is None and main_loop.parent_agent_id is None


def test_count_tokens_is_never_spend() -> None:
    rec = build_record(
        exchange(
            path="/v1/messages/count_tokens?beta=true", request_body=body(), response_body=b'{"input_tokens": 98765}'
        )
    )
    assert rec.endpoint == "count_tokens" and rec.count_tokens_input == 98765
    assert rec.input_tokens == rec.output_tokens == rec.cache_read_tokens == rec.cache_write_tokens == 0


@pytest.mark.parametrize(
    ("headers", "billing"), [(UNIFIED, "subscription"), (API_FAMILY, "api"), ({"request-id": "r"}, "unknown")]
)
def test_billing_route(headers: dict[str, str], billing: str) -> None:
    assert build_record(exchange(response_headers=headers)).billing == billing


def test_error_json_and_retry_after() -> None:
    err = b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"},"request_id":"req_x"}'
    rec = build_record(exchange(status=429, response_body=err, response_headers={"retry-after": "17"}))
    assert (rec.error_type, rec.retry_after, rec.input_tokens) == ("rate_limit_error", "17", 0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_stream_record_matches_case(case: Any) -> None:
    parser = StreamUsage("gzip")
    parser.feed(gzip.compress(render(case.events)))
    rec = build_record(exchange(request_body=body(stream=True), stream_usage=parser.result()))
    assert rec.stream is True and rec.model == case.expected["model"]
    for key, value in tokens_of(case.expected["usage"]).items():
        assert getattr(rec, key) == value, key
    assert rec.error_type == case.expected.get("error_type")


def big_messages(n: int) -> list[dict[str, Any]]:
    """A long conversation whose tool calls carry their own "model" and "stream" keys (like Claude Code's Task tool)."""
    turn = [
        {"role": "user", "content": "x" * 1000 + ' "model": "in-text", "stream": true'},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "t",
                    "name": "Task",
                    "input": {"model": "haiku", "stream": False, "prompt": "y" * 500},
                }
            ],
        },
    ]
    return turn * n


@pytest.mark.parametrize("turns", [50, 300])  # ~80 KB, Claude Code's everyday size, and ~500 KB
@pytest.mark.parametrize("order", ["claude_code", "sdk"])
def test_large_body_is_scanned_not_parsed(order: str, turns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bodies over the parse limit yield model, stream, speed and the session without json.loads, in
    Claude Code's key order (model first) and the SDKs' (messages first)."""
    import ccgate.usage.record as record_mod

    user_id = json.dumps({"device_id": "d", "account_uuid": ACCOUNT, "session_id": SESSION})
    messages = big_messages(turns)
    if order == "claude_code":
        data = {
            "model": "claude-opus-4-8",
            "messages": messages,
            "system": "s",
            "metadata": {"user_id": user_id},
            "max_tokens": 100,
            "speed": "fast",
            "stream": True,
        }
    else:
        data = {
            "max_tokens": 100,
            "messages": messages,
            "model": "claude-opus-4-8",
            "metadata": {"user_id": user_id},
            "speed": "fast",
            "stream": True,
            "tools": [{"name": "Task", "input_schema": {"properties": {"model": {"type": "string"}}}}],
        }
    big = json.dumps(data).encode()
    assert len(big) > record_mod.JSON_PARSE_LIMIT
    real_loads = json.loads
    monkeypatch.setattr(
        record_mod.json,
        "loads",
        lambda b, *a, **k: real_loads(b, *a, **k) if len(b) < 10_000 else pytest.fail("parsed a large body"),
    )
    rec = build_record(exchange(request_body=big))
    assert (rec.request_model, rec.stream, rec.speed, rec.session_id, rec.account_id) == (
        "claude-opus-4-8",
        True,
        "fast",
        SESSION,
        ACCOUNT,
    )


def test_garbage_never_raises() -> None:
    for junk in (b"", b"not json", b"[1,2]", b"\x1f\x8bnot gzip", b'{"usage": "nope", "model": 5}'):
        rec = build_record(exchange(request_body=junk, response_body=junk))
        assert rec.input_tokens == 0


usage_values = st.fixed_dictionaries(
    {
        "input_tokens": st.integers(0, 10**6),
        "output_tokens": st.integers(1, 10**5),
        "cache_read_input_tokens": st.integers(0, 10**6),
        "w5": st.integers(0, 10**5),
        "w1": st.integers(0, 10**5),
        "other": st.integers(0, 10**4),
        "searches": st.integers(0, 20),
        "fetches": st.integers(0, 20),
    }
)


@settings(max_examples=150, deadline=None)
@given(values=usage_values, cuts=st.lists(st.integers(0, 10**6), max_size=30), gz=st.booleans())
def test_stream_and_json_answers_record_the_same_usage(values: dict[str, int], cuts: list[int], gz: bool) -> None:
    """The same usage reported as a JSON message and as a stream (in any chunking, gzip or not) gives one record."""
    usage = {
        "input_tokens": values["input_tokens"],
        "output_tokens": values["output_tokens"],
        "cache_read_input_tokens": values["cache_read_input_tokens"],
        "cache_creation_input_tokens": values["w5"] + values["w1"] + values["other"],
        "cache_creation": {"ephemeral_5m_input_tokens": values["w5"], "ephemeral_1h_input_tokens": values["w1"]},
        "server_tool_use": {"web_search_requests": values["searches"], "web_fetch_requests": values["fetches"]},
    }
    start_usage = {**usage, "output_tokens": 1, "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0}}
    final = {"output_tokens": usage["output_tokens"], "server_tool_use": usage["server_tool_use"]}
    events = [
        frame(
            "message_start",
            {"type": "message_start", "message": {"id": "msg_p", "model": "claude-sonnet-5", "usage": start_usage}},
        ),
        frame(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        ),
        frame("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": final}),
    ]
    wire = render(events)
    if gz:
        wire = gzip.compress(wire)
    bounds = [0, *sorted({c % (len(wire) + 1) for c in cuts}), len(wire)]
    parser = StreamUsage("gzip" if gz else None)
    for a, b in itertools.pairwise(bounds):
        parser.feed(wire[a:b])
    streamed = build_record(exchange(request_body=body(stream=True), stream_usage=parser.result()))
    raw = message_json(usage=usage)
    answered = build_record(
        exchange(
            request_body=body(),
            response_body=gzip.compress(raw) if gz else raw,
            response_headers={"content-encoding": "gzip"} if gz else {},
        )
    )
    for key, value in tokens_of(usage).items():
        assert getattr(streamed, key) == getattr(answered, key) == value, key
    assert streamed.stop_reason == answered.stop_reason == "end_turn"
