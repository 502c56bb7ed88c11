"""One exchange: route, header policy, credentials, body limit, streaming relay, error mapping.

Bytes go through untouched: the request body as received (the server does not decompress
it), the response body as the upstream encoded it. The usage log reads a copy: each chunk
of an event stream goes to `StreamUsage`, a non-stream body is kept up to a bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from ccgate.gateway.credentials import Decision, has_client_credential, passed_through
from ccgate.gateway.guard import Guard
from ccgate.gateway.refused import Refused
from ccgate.gateway.routing import ConfigCache, Route, resolve_route
from ccgate.gateway.sealing import SecretBroker
from ccgate.usage.model import Exchange, Outcome
from ccgate.usage.sink import Sink
from ccgate.usage.sse import StreamUsage

log = logging.getLogger("ccgate.gateway")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "accept-encoding",
    }
)
# What the usage parser can decode; other encodings the client offers are not asked for.
DECODABLE = ("gzip", "deflate", "identity")
# Request headers the usage log keeps to attribute a request; never a credential.
IDENTIFYING = (
    "user-agent",
    "x-app",
    "x-claude-code-session-id",
    "x-claude-code-agent-id",
    "x-claude-code-parent-agent-id",
    "anthropic-beta",
    "anthropic-version",
)
KEPT_RESPONSE = ("request-id", "retry-after", "content-type", "content-encoding")
MAX_KEPT_BODY = 8 * 1024 * 1024
# The usage log reads a few top-level fields of the request body: `model` comes first in Claude
# Code's bodies, `metadata`, `stream` and `speed` after the prompt. Holding a 30 MB body in the
# log's queue until the writer thread gets to it would cost memory for nothing, so large bodies
# are handed over as their head and tail only.
BODY_HEAD, BODY_TAIL = 16 * 1024, 64 * 1024


def anthropic_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": error_type, "message": message}}, status=status)


@dataclass(slots=True)
class Counters:
    started: float = field(default_factory=time.time)
    requests: int = 0
    in_flight: int = 0


class Forwarder:
    def __init__(self, configs: ConfigCache, sink: Sink, *, connect_timeout: float = 10.0) -> None:
        self.configs = configs
        self.sink = sink
        self.counters = Counters()
        self.broker = SecretBroker()
        self.guard = Guard(configs, sink)  # budgets, fallback, alerts (gateway/guard.py)
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        idle = self.configs.get().settings.idle_timeout_s
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=self._connect_timeout, sock_read=idle),
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        await self.guard.start()

    async def close(self) -> None:
        await self.guard.close()
        if self._session is not None:
            await self._session.close()
        await asyncio.get_running_loop().run_in_executor(None, self.broker.close)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.counters.requests += 1
        self.counters.in_flight += 1
        ex = Exchange(
            started_at=time.time(),
            profile=None,
            method=request.method,
            path=request.raw_path,
            status=0,
            outcome="rejected",
            ttfb_ms=None,
            duration_ms=0.0,
            request_bytes=0,
            response_bytes=0,
            credential_kind="none",
            credential_fp=None,
            request_headers={k: request.headers[k] for k in IDENTIFYING if k in request.headers},
        )
        t0 = time.perf_counter()
        try:
            return await self._exchange(request, ex, t0)
        finally:
            ex.duration_ms = (time.perf_counter() - t0) * 1000
            self.counters.in_flight -= 1
            self.sink.submit(ex)

    async def _exchange(self, request: web.Request, ex: Exchange, t0: float) -> web.StreamResponse:
        try:
            route = resolve_route(self.configs.get(), request.raw_path)
        except Refused as refused:
            return self._refuse(ex, refused)
        route = self.guard.route(route)  # a used-up subscription's fallback (gateway/guard.py)
        ex.profile, ex.path = route.profile_name, route.path
        if (spent := await self.guard.refusal(route)) is not None:  # a spent budget: nothing goes upstream
            return self._refuse(ex, spent)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = self.configs.get().settings.max_body_mib
            return self._refuse(ex, Refused(413, "request_too_large", f"ccgate: request body over {limit} MiB"))
        ex.request_bytes, ex.request_body = len(body), body_for_log(body, request.headers.get("content-encoding"))
        try:
            decision = await self._credentials(route, request)
        except Refused as refused:
            return self._refuse(ex, refused)
        ex.credential_kind, ex.credential_fp = decision.kind, decision.fingerprint
        return await self._relay(request, route, body, decision, ex, t0)

    def _refuse(self, ex: Exchange, refused: Refused) -> web.Response:
        ex.status, ex.outcome, ex.error = refused.status, "rejected", refused.message
        response = anthropic_error(refused.status, refused.error_type, refused.message)
        response.headers.update(refused.headers)
        return response

    async def _credentials(self, route: Route, request: web.Request) -> Decision:
        if (diverted := await self.guard.credentials(route, request.headers, self.broker)) is not None:
            return diverted  # the fallback's own credential, never the client's
        config = self.configs.get()
        swapped = await self.broker.unsealed(config, route.profile, request.headers)
        if swapped is not None:
            return swapped
        if has_client_credential(request.headers) or route.profile is None or not route.profile.inject_credential:
            return passed_through(request.headers)
        return await self.broker.injected(config, route.profile, request.headers)

    async def _relay(
        self, request: web.Request, route: Route, body: bytes, decision: Decision, ex: Exchange, t0: float
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = upstream_headers(request.headers, decision, URL(route.upstream))
        try:
            upstream = await self._session.request(
                request.method,
                URL(route.url, encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=None,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return self._failed(ex, 504, "upstream_timeout", f"ccgate: upstream {route.upstream} timed out")
        except aiohttp.ClientError as exc:
            reason = exc.__class__.__name__
            return self._failed(ex, 502, "upstream_unreachable", f"ccgate: cannot reach {route.upstream} ({reason})")
        ex.ttfb_ms = (time.perf_counter() - t0) * 1000
        if self.guard.takes_over(route, upstream):  # 429 "rejected" on a subscription with a fallback
            return await self.guard.take_over(self, request, route, body, upstream, ex)
        async with upstream:
            return await self._stream_back(request, upstream, ex)

    def _failed(self, ex: Exchange, status: int, outcome: Outcome, message: str) -> web.Response:
        ex.status, ex.outcome, ex.error = status, outcome, message
        return anthropic_error(status, "api_error", message)

    async def _stream_back(
        self, request: web.Request, upstream: aiohttp.ClientResponse, ex: Exchange
    ) -> web.StreamResponse:
        ex.status = upstream.status
        ex.response_headers = kept_response_headers(upstream.headers)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in HOP_BY_HOP - {"content-length", "accept-encoding"}:
                response.headers.add(name, value)
        encoding = upstream.headers.get("content-encoding")
        tap = StreamUsage(encoding) if "text/event-stream" in upstream.headers.get("content-type", "") else None
        kept: list[bytes] | None = None if tap else []
        kept_size = 0
        ex.outcome = "client_closed"
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                if tap is not None:
                    tap.feed(chunk)
                elif kept is not None and kept_size + len(chunk) <= MAX_KEPT_BODY:
                    kept.append(chunk)
                    kept_size += len(chunk)
                await response.write(chunk)
                ex.response_bytes += len(chunk)
            await response.write_eof()
            ex.outcome = "ok"
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError):
            ex.outcome, ex.error = "upstream_dropped", "ccgate: upstream closed the response early"
            _abort(request)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            ex.outcome, ex.error = "upstream_timeout", "ccgate: upstream went silent (idle timeout)"
            _abort(request)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            ex.outcome = "client_closed"
        finally:
            if tap is not None:
                ex.stream_usage = tap.result()
            elif kept is not None:
                ex.response_body = b"".join(kept)
            if ex.outcome != "ok":
                upstream.close()
        return response


def body_for_log(body: bytes, content_encoding: str | None) -> bytes:
    if content_encoding or len(body) <= BODY_HEAD + BODY_TAIL:
        return body  # compressed bytes cannot be cut; they are rare and small
    return body[:BODY_HEAD] + body[-BODY_TAIL:]


def _abort(request: web.Request) -> None:
    """End the client's connection without a clean end of body, so it sees the truncation."""
    if request.transport is not None:
        request.transport.abort()


def upstream_headers(incoming: Mapping[str, str], decision: Decision, upstream: URL) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    connection = incoming.get("connection")
    listed = {t.strip().lower() for t in connection.split(",")} if connection else set()
    add = headers.add
    for name, value in incoming.items():
        lower = name.lower()
        if lower not in HOP_BY_HOP and lower not in listed:
            add(name, value)
    for name, value in decision.set_headers.items():
        headers.popall(name, None)
        if value:
            headers[name] = value
    wanted = accepted_encodings(incoming.get("accept-encoding"))
    if wanted:
        headers["Accept-Encoding"] = wanted
    headers["Host"] = upstream.raw_authority
    return headers


def accepted_encodings(offered: str | None) -> str | None:
    """The client's offer narrowed to what the usage parser decodes (never br or zstd)."""
    if not offered:
        return None
    names = [part.split(";")[0].strip().lower() for part in offered.split(",")]
    kept = [n for n in names if n in DECODABLE]
    return ", ".join(kept) if kept else "identity"


def kept_response_headers(headers: object) -> dict[str, str]:
    out = {}
    for name, value in headers.items():  # type: ignore[attr-defined]
        lower = name.lower()
        if lower in KEPT_RESPONSE or lower.startswith("anthropic-ratelimit-"):
            out[lower] = value
    return out
