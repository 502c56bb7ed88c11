"""Recorded-shape Messages SSE streams (the event sequences and JSON shapes the API sends) with the
usage each must yield. Built from event lists so that line endings can vary; bodies stay ASCII-safe
but include non-ASCII text deltas, pings and comment lines the way the real API interleaves them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def frame(event: str, data: dict[str, Any]) -> tuple[str, str]:
    return event, json.dumps(data, separators=(",", ":"))


def render(events: list[tuple[str, str]], eol: str = "\n", split_data: bool = False) -> bytes:
    """SSE text; `split_data` spreads each JSON payload over several `data:` lines (legal SSE)."""
    out: list[str] = []
    for event, data in events:
        if event == ":":
            out.append(f": {data}{eol}")
            continue
        out.append(f"event: {event}{eol}")
        if split_data:
            # Pretty-printed JSON: its newlines fall between tokens, so the joined lines parse the same.
            for part in json.dumps(json.loads(data), indent=1).split("\n"):
                out.append(f"data: {part}{eol}")
        else:
            out.append(f"data: {data}{eol}")
        out.append(eol)
    return "".join(out).encode()


def _start(model: str, msg_id: str, usage: dict[str, Any]) -> tuple[str, str]:
    return frame(
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": usage,
            },
        },
    )


def _text_block(index: int, pieces: list[str]) -> list[tuple[str, str]]:
    events = [
        frame(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        )
    ]
    for piece in pieces:
        events.append(
            frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}},
            )
        )
    events.append(frame("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


PING = frame("ping", {"type": "ping"})
STOP = frame("message_stop", {"type": "message_stop"})


@dataclass
class Case:
    name: str
    events: list[tuple[str, str]]
    expected: dict[str, Any]  # subset of StreamUsage.result()


def text_case() -> Case:
    usage = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 20000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    events = [
        _start("claude-sonnet-5-5", "msg_text01", usage),
        PING,
        *_text_block(0, ["Hello", ", wörld — ", "ça va? ", "🙂 " * 5, "done."]),
        (":", "keep-alive comment"),
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 57},
            },
        ),
        STOP,
    ]
    return Case(
        "text",
        events,
        {
            "model": "claude-sonnet-5-5",
            "message_id": "msg_text01",
            "stop_reason": "end_turn",
            "error_type": None,
            "usage": {**usage, "output_tokens": 57},
        },
    )


def tool_use_case() -> Case:
    usage = {
        "input_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 51234,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 2,
    }
    events = [
        _start("claude-opus-4-8", "msg_tool01", usage),
        *_text_block(0, ["Let me look."]),
        frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_01", "name": "Read", "input": {}},
            },
        ),
        *[
            frame(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": part},
                },
            )
            for part in ['{"file_', 'path": "/tmp/', 'a.py"}']
        ],
        frame("content_block_stop", {"type": "content_block_stop", "index": 1}),
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 88},
            },
        ),
        STOP,
    ]
    return Case(
        "tool_use",
        events,
        {
            "model": "claude-opus-4-8",
            "message_id": "msg_tool01",
            "stop_reason": "tool_use",
            "usage": {**usage, "output_tokens": 88},
        },
    )


def thinking_case() -> Case:
    usage = {
        "input_tokens": 9,
        "cache_creation_input_tokens": 700,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 700},
        "output_tokens": 3,
    }
    long_thought = "Considering the options carefully. " * 200  # one delta far longer than a chunk
    events = [
        _start("claude-sonnet-5", "msg_think01", usage),
        frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        frame(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": long_thought}},
        ),
        PING,
        frame(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM" + "A" * 300},
            },
        ),
        frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
        *_text_block(1, ["Answer: 42"]),
        # Several cumulative message_delta frames: the last value of each field wins.
        frame(
            "message_delta", {"type": "message_delta", "delta": {"stop_reason": None}, "usage": {"output_tokens": 400}}
        ),
        frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {"output_tokens": 1024, "input_tokens": None},
            },
        ),
        STOP,
    ]
    return Case(
        "thinking",
        events,
        {
            "model": "claude-sonnet-5",
            "message_id": "msg_think01",
            "stop_reason": "max_tokens",
            "usage": {**usage, "output_tokens": 1024},
        },
    )


def server_tool_case() -> Case:
    start_usage = {
        "input_tokens": 2100,
        "cache_creation_input_tokens": 500,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
    }
    final = {
        "input_tokens": 9800,
        "cache_creation_input_tokens": 1300,
        "cache_read_input_tokens": 4000,
        "output_tokens": 640,
        "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
    }
    events = [
        _start("claude-opus-5-5", "msg_srv01", start_usage),
        frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {}},
            },
        ),
        frame(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"query": "ccgate"}'},
            },
        ),
        frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
        frame(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "web_search_tool_result",
                    "tool_use_id": "srvtoolu_01",
                    "content": [
                        {
                            "type": "web_search_result",
                            "title": "x",
                            "url": "https://e.x/",
                            "encrypted_content": "Z" * 500,
                        }
                    ],
                },
            },
        ),
        frame("content_block_stop", {"type": "content_block_stop", "index": 1}),
        *_text_block(2, ["Found it."]),
        frame("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": final}),
        STOP,
    ]
    merged = {**start_usage, **final}
    return Case(
        "server_tool",
        events,
        {"model": "claude-opus-5-5", "message_id": "msg_srv01", "stop_reason": "end_turn", "usage": merged},
    )


def error_case() -> Case:
    usage = {
        "input_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
    }
    events = [
        _start("claude-sonnet-5-5", "msg_err01", usage),
        *_text_block(0, ["Partial ans"]),
        frame("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]
    return Case(
        "error_mid_stream",
        events,
        {
            "model": "claude-sonnet-5-5",
            "message_id": "msg_err01",
            "stop_reason": None,
            "error_type": "overloaded_error",
            "usage": usage,
        },
    )


CASES = [text_case(), tool_use_case(), thinking_case(), server_tool_case(), error_case()]


def tokens_of(usage: dict[str, Any]) -> dict[str, int]:
    """Token classes (as the usage record stores them) from an Anthropic usage object."""
    cc = usage.get("cache_creation") or {}
    w5, w1 = cc.get("ephemeral_5m_input_tokens", 0), cc.get("ephemeral_1h_input_tokens", 0)
    stu = usage.get("server_tool_use") or {}
    return {
        "input_tokens": usage.get("input_tokens", 0),
        "output_tokens": usage.get("output_tokens", 0),
        "cache_read_tokens": usage.get("cache_read_input_tokens", 0),
        "cache_write_5m_tokens": w5,
        "cache_write_1h_tokens": w1,
        "cache_write_other_tokens": usage.get("cache_creation_input_tokens", 0) - w5 - w1,
        "web_search_requests": stu.get("web_search_requests", 0),
        "web_fetch_requests": stu.get("web_fetch_requests", 0),
    }
