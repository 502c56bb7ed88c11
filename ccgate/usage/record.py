"""Turn one forwarded Exchange into one UsageRecord (runs on the writer thread, off the event loop).

What is read: the request body's model/stream/speed/metadata.user_id (never its text), the
identifying request headers, the usage the SSE parser saw or the non-streaming JSON's usage,
and the rate-limit headers. What is never kept: prompt, response text, credentials, and the
values of query parameters (`?key=sk-ant-…` is logged as `?key=…`; only a few parameters
known to carry nothing but flags and counts keep their values).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from typing import Any

from ccgate.usage.inflate import decodable, inflate
from ccgate.usage.model import Exchange, UsageRecord

# Request bodies above this are scanned for their few top-level fields instead of json.loads:
# parsing Claude Code's 75 KB-32 MB prompts costs ~3 ms per MB of interpreter time that the
# forwarder's event loop would wait for; the scan costs tens of microseconds whatever the size.
JSON_PARSE_LIMIT = 64 * 1024
SCAN_TAIL = 64 * 1024
RESPONSE_PARSE_LIMIT = 8 * 1024 * 1024

_LEGACY_USER_ID = re.compile(r"^user_([0-9a-fA-F]+)_account_([0-9a-fA-F-]*)_session_([0-9a-fA-F-]+)$")
_UNIFIED_PREFIX = "anthropic-ratelimit-unified-"
_API_FAMILY = re.compile(r"^anthropic-ratelimit-(requests|tokens|input-tokens|output-tokens)-")
_MODEL_BYTES = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')
_LEADING_MODEL_BYTES = re.compile(rb'\s*\{\s*"model"\s*:\s*"([^"\\]{1,200})"')
_STREAM_BYTES = re.compile(rb'"stream"\s*:\s*(true|false)')
_SPEED_BYTES = re.compile(rb'"speed"\s*:\s*"([^"\\]{1,40})"')
_USER_ID_BYTES = re.compile(rb'"user_id"\s*:\s*"((?:[^"\\]|\\.){1,2000})"')
# Query parameters whose values are kept in the log: the API's flags and paging, short and plain.
SAFE_QUERY = frozenset({"beta", "limit", "after_id", "before_id"})
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:-]{0,64}")
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\[\]-]{0,63}")
HIDDEN = "…"


def classify_endpoint(path: str) -> str:
    """messages | count_tokens | models | other, from the path without its query."""
    bare = path.split("?", 1)[0].rstrip("/")
    if bare.endswith("/v1/messages/count_tokens"):
        return "count_tokens"
    if bare.endswith("/v1/messages"):
        return "messages"
    if "/v1/models" in bare:
        return "models"
    return "other"


def loggable_path(path: str) -> str:
    """The path as the log keeps it: the query's names stay, values only for SAFE_QUERY flags."""
    bare, sep, query = path.partition("?")
    if not sep:
        return path
    kept: list[str] = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        if not part:
            kept.append(part)
            continue
        if not _PLAIN_NAME.fullmatch(name) or "sk-" in name:
            kept.append(HIDDEN)  # a bare token or an odd name can itself be the secret
            continue
        if eq and (name not in SAFE_QUERY or not _SAFE_VALUE.fullmatch(value) or "sk-" in value):
            value = HIDDEN
        kept.append(f"{name}{eq}{value}")
    return f"{bare}?{'&'.join(kept)}"


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes | bytearray | None:
    """Undo gzip/deflate as the header says, at most `limit` decoded bytes; None if not decodable."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if not decodable(encoding):
        return None  # br, zstd: not decodable here
    return inflate(body, encoding, limit)


def _load_json(body: bytes | bytearray | None, limit: int) -> Any:
    if not body or len(body) > limit:
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_user_id(user_id: str) -> tuple[str | None, str | None]:
    """(session_id, account_id) from metadata.user_id: a JSON string or the legacy user_…_account_…_session_… form."""
    text = user_id.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return None, None
        if isinstance(data, dict):
            return _opt_str(data.get("session_id")), _opt_str(data.get("account_uuid"))
        return None, None
    match = _LEGACY_USER_ID.match(text)
    if match:
        return match.group(3) or None, match.group(2) or None
    return None, None


def _request_fields(body: bytes | None) -> dict[str, Any]:
    """model, stream, speed and the metadata.user_id string from the request body (already decoded
    by the forwarder's tap, and cut to its head and tail when large)."""
    if not body:
        return {}
    decoded = body
    data = _load_json(decoded, JSON_PARSE_LIMIT)
    if isinstance(data, dict):
        metadata = data.get("metadata")
        user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
        return {
            "model": _opt_str(data.get("model")),
            "stream": data.get("stream") is True,
            "speed": _opt_str(data.get("speed")),
            "user_id": user_id if isinstance(user_id, str) else None,
        }
    # Too large to parse, or cut to its head and tail by the forwarder: find the fields by key.
    return _scan_large_body(decoded)


def _scan_large_body(body: bytes) -> dict[str, Any]:
    """Large bodies: find the few top-level fields by their key instead of parsing megabytes of prompt.

    Claude Code writes `model` as the first key (later tool_use inputs in `messages` may hold their
    own "model") and its small keys (`metadata`, `stream`, `speed`) last; the SDKs write `model`,
    `metadata` and `stream` right after `messages`, followed only by `system` and `tools`, whose
    schemas hold no string-valued "model". So: a leading `model`, else the last string-valued one,
    and the last `stream`, `speed` and `user_id`, all searched in the final SCAN_TAIL bytes only,
    so the cost stays constant however long the conversation grows. (An SDK-ordered request whose
    system prompt and tools exceed that window loses `request_model` and the metadata session id;
    the response's `model` and an event-stream response still say which model and that it streamed.)
    """
    lo = max(0, len(body) - SCAN_TAIL)
    out: dict[str, Any] = {}
    if m := _LEADING_MODEL_BYTES.match(body) or _last_value(body, b'"model"', _MODEL_BYTES, lo):
        out["model"] = m.group(1).decode("utf-8", "replace")
    if m := _last_value(body, b'"stream"', _STREAM_BYTES, lo):
        out["stream"] = m.group(1) == b"true"
    if m := _last_value(body, b'"speed"', _SPEED_BYTES, lo):
        out["speed"] = m.group(1).decode("utf-8", "replace")
    if m := _last_value(body, b'"user_id"', _USER_ID_BYTES, lo):
        with contextlib.suppress(ValueError):
            out["user_id"] = json.loads(b'"' + m.group(1) + b'"')
    return out


def _last_value(body: bytes, key: bytes, pattern: re.Pattern[bytes], lo: int) -> re.Match[bytes] | None:
    """The last occurrence of `key` at or after `lo` that `pattern` matches as `key: value`."""
    pos = body.rfind(key, lo)
    for _ in range(64):
        if pos < 0:
            return None
        if m := pattern.match(body, pos):
            return m
        pos = body.rfind(key, lo, pos)
    return None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = _float_header(headers, name)
    return int(value) if value is not None else None


def billing_route(headers: Mapping[str, str]) -> str:
    """subscription if the unified family came back, api for the per-key family, else unknown."""
    names = [n.lower() for n in headers]
    if any(n.startswith(_UNIFIED_PREFIX) for n in names):
        return "subscription"
    if any(_API_FAMILY.match(n) for n in names):
        return "api"
    return "unknown"


def _apply_response_headers(rec: UsageRecord, raw: Mapping[str, str]) -> None:
    h = {k.lower(): v for k, v in raw.items()}
    p = _UNIFIED_PREFIX
    rec.request_id = h.get("request-id")
    rec.retry_after = h.get("retry-after")
    rec.billing = billing_route(h)
    rec.rl_status = h.get(p + "status")
    rec.rl_5h_status = h.get(p + "5h-status")
    rec.rl_5h_utilization = _float_header(h, p + "5h-utilization")
    rec.rl_5h_reset = _int_header(h, p + "5h-reset")
    rec.rl_7d_status = h.get(p + "7d-status")
    rec.rl_7d_utilization = _float_header(h, p + "7d-utilization")
    rec.rl_7d_reset = _int_header(h, p + "7d-reset")
    rec.rl_representative_claim = h.get(p + "representative-claim")
    rec.rl_overage_status = h.get(p + "overage-status")


def apply_usage(rec: UsageRecord, usage: Mapping[str, Any]) -> None:
    """Anthropic's usage object → token classes. Cache writes the 5m/1h breakdown misses stay as 'other'."""
    rec.input_tokens = _as_int(usage.get("input_tokens"))
    rec.output_tokens = _as_int(usage.get("output_tokens"))
    rec.cache_read_tokens = _as_int(usage.get("cache_read_input_tokens"))
    total_writes = _as_int(usage.get("cache_creation_input_tokens"))
    breakdown = usage.get("cache_creation")
    if isinstance(breakdown, Mapping):
        rec.cache_write_5m_tokens = _as_int(breakdown.get("ephemeral_5m_input_tokens"))
        rec.cache_write_1h_tokens = _as_int(breakdown.get("ephemeral_1h_input_tokens"))
    rec.cache_write_other_tokens = max(0, total_writes - rec.cache_write_5m_tokens - rec.cache_write_1h_tokens)
    server = usage.get("server_tool_use")
    if isinstance(server, Mapping):
        rec.web_search_requests = _as_int(server.get("web_search_requests"))
        rec.web_fetch_requests = _as_int(server.get("web_fetch_requests"))
    rec.service_tier = _opt_str(usage.get("service_tier"))
    rec.inference_geo = _opt_str(usage.get("inference_geo"))


def _apply_stream(rec: UsageRecord, result: Mapping[str, Any]) -> None:
    rec.model = _opt_str(result.get("model"))
    rec.message_id = _opt_str(result.get("message_id"))
    rec.stop_reason = _opt_str(result.get("stop_reason"))
    rec.error_type = _opt_str(result.get("error_type")) or rec.error_type
    usage = result.get("usage")
    if isinstance(usage, Mapping) and rec.endpoint != "count_tokens":
        apply_usage(rec, usage)


def _apply_json_body(rec: UsageRecord, body: bytes, content_encoding: str | None) -> None:
    decoded = decode_body(body, content_encoding, RESPONSE_PARSE_LIMIT + 1)
    data = _load_json(decoded, RESPONSE_PARSE_LIMIT)
    if not isinstance(data, dict):
        return
    if data.get("type") == "error" or isinstance(data.get("error"), dict):
        error = data.get("error")
        if isinstance(error, dict):
            rec.error_type = _opt_str(error.get("type"))
        return
    if rec.endpoint == "count_tokens":
        # A token count is not spend: keep the figure apart, leave every token class at 0.
        value = data.get("input_tokens")
        rec.count_tokens_input = value if isinstance(value, int) and not isinstance(value, bool) else None
        return
    rec.model = _opt_str(data.get("model"))
    rec.message_id = _opt_str(data.get("id"))
    rec.stop_reason = _opt_str(data.get("stop_reason"))
    usage = data.get("usage")
    if isinstance(usage, dict):
        apply_usage(rec, usage)


def build_record(ex: Exchange) -> UsageRecord:
    req_headers = {k.lower(): v for k, v in ex.request_headers.items()}
    resp_headers = {k.lower(): v for k, v in ex.response_headers.items()}
    rec = UsageRecord(
        ts=ex.started_at,
        profile=ex.profile,
        method=ex.method,
        path=loggable_path(ex.path),
        endpoint=classify_endpoint(ex.path),
        status=ex.status,
        outcome=ex.outcome,
        credential_kind=ex.credential_kind,
        credential_fp=ex.credential_fp,
        ttfb_ms=ex.ttfb_ms,
        duration_ms=ex.duration_ms,
        request_bytes=ex.request_bytes,
        response_bytes=ex.response_bytes,
        user_agent=req_headers.get("user-agent"),
        x_app=req_headers.get("x-app"),
        agent_id=req_headers.get("x-claude-code-agent-id") or None,
        parent_agent_id=req_headers.get("x-claude-code-parent-agent-id") or None,
    )
    fields = _request_fields(ex.request_body)
    rec.request_model = fields.get("model")
    rec.stream = bool(fields.get("stream")) or ex.stream_usage is not None
    rec.speed = fields.get("speed")
    session_id = account_id = None
    if fields.get("user_id"):
        session_id, account_id = parse_user_id(fields["user_id"])
    rec.session_id = req_headers.get("x-claude-code-session-id") or session_id
    rec.account_id = account_id
    _apply_response_headers(rec, resp_headers)
    if ex.stream_usage:
        _apply_stream(rec, ex.stream_usage)
    elif ex.response_body:
        _apply_json_body(rec, ex.response_body, resp_headers.get("content-encoding"))
    return rec
