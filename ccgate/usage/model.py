"""The two shapes that cross the boundary between the forwarder and the usage log.

`Exchange` is what the forwarder knows about one request/response when it is done
(finished, failed or aborted). It never holds a credential: the forwarder keeps only
the credential's kind and a short fingerprint. `UsageRecord` is one row of the usage
log, built from an Exchange off the event loop (usage.record.build_record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal[
    "ok",  # the response ended normally
    "client_closed",  # the client went away before the end
    "upstream_dropped",  # the upstream connection broke mid-response
    "upstream_unreachable",  # no response at all (connect error): ccgate answered 502
    "upstream_timeout",  # connect or idle-read timeout: ccgate answered 504
    "rejected",  # ccgate itself refused the request (413, 401 for a bad handle, 404 profile)
]
Billing = Literal["subscription", "api", "unknown"]
SEEN_GATEWAY, SEEN_TRANSCRIPT = 1, 2
CredentialKind = Literal["oauth", "bearer", "api_key", "both", "sealed", "injected", "none"]


@dataclass(slots=True)
class Exchange:
    started_at: float  # unix seconds, when the request arrived
    profile: str | None
    method: str
    path: str  # path and query as forwarded upstream; the log keeps query values only for a few flags
    status: int  # HTTP status the client saw (0 if none was sent)
    outcome: Outcome
    ttfb_ms: float | None  # request arrival -> first response byte from upstream
    duration_ms: float
    request_bytes: int
    response_bytes: int  # bytes relayed to the client (as sent, possibly compressed)
    credential_kind: CredentialKind
    credential_fp: str | None  # short non-reversible fingerprint, never the credential
    # Request headers that identify who asked (lower-cased names); never credentials.
    request_headers: dict[str, str] = field(default_factory=dict)
    # Response headers the log keeps: request-id, anthropic-ratelimit-*, retry-after, content-type.
    response_headers: dict[str, str] = field(default_factory=dict)
    # The request body (decoded; its head and tail when large), kept only to read model/stream/metadata
    # off the event loop (usage.request_body.RequestBodyTap).
    request_body: bytes | None = None
    # Usage already extracted incrementally from a stream (usage.sse.StreamUsage.result()).
    stream_usage: dict[str, object] | None = None
    # A non-streaming response body as relayed (possibly compressed), bounded, for usage extraction.
    response_body: bytes | None = None
    error: str | None = None  # ccgate's own short description of a failure, never secret


@dataclass(slots=True)
class UsageRecord:
    ts: float  # unix seconds, request start
    profile: str | None
    method: str
    path: str
    endpoint: str  # "messages" | "count_tokens" | "models" | "other"
    status: int
    outcome: str
    error_type: str | None = None  # e.g. overloaded_error from an SSE error event or error JSON
    request_model: str | None = None
    model: str | None = None  # as the upstream reported it
    message_id: str | None = None
    stream: bool = False
    stop_reason: str | None = None
    session_id: str | None = None
    account_id: str | None = None
    user_agent: str | None = None
    x_app: str | None = None
    agent_id: str | None = None
    parent_agent_id: str | None = None
    credential_kind: str = "none"
    credential_fp: str | None = None
    request_id: str | None = None
    ttfb_ms: float | None = None
    duration_ms: float = 0.0
    request_bytes: int = 0
    response_bytes: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_write_other_tokens: int = 0  # total cache writes minus the 5m/1h breakdown
    output_tokens: int = 0
    web_search_requests: int = 0
    web_fetch_requests: int = 0
    count_tokens_input: int | None = None  # count_tokens answers: recorded, never spend
    service_tier: str | None = None
    speed: str | None = None  # request body `speed` (fast mode), kept to price it later
    billing: str = "unknown"
    rl_status: str | None = None
    rl_5h_status: str | None = None
    rl_5h_utilization: float | None = None
    rl_5h_reset: int | None = None
    rl_7d_status: str | None = None
    rl_7d_utilization: float | None = None
    rl_7d_reset: int | None = None
    rl_representative_claim: str | None = None
    rl_overage_status: str | None = None
    retry_after: str | None = None
    inference_geo: str | None = None  # usage.inference_geo: "us" is US-only inference, priced higher
    # The ledger (m005): the session's working directory (from its transcript), the machine an
    # imported row came from (None: this one), who saw it (SEEN_GATEWAY | SEEN_TRANSCRIPT), and the
    # transcript's own token total when both did.
    project: str | None = None
    machine: str | None = None
    seen: int = 1
    transcript_tokens: int | None = None
    origin_key: str | None = None  # "<machine>:<row id there>" for a row imported from an export

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens + self.cache_write_other_tokens
