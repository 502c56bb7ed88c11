"""One exchange: route, header policy, credentials, body limit, streaming relay, error mapping.

Bytes go through untouched: the request body as received (the server does not decompress it),
streamed upstream chunk by chunk as it arrives when over STREAM_ABOVE; the response body as the upstream encoded it,
relayed chunk by chunk. The usage log reads copies, each bounded: the request body's head and
tail (`RequestBodyTap`), each chunk of an event stream (`StreamUsage`), a non-stream response
body up to MAX_KEPT_BODY.

A client that stops sending its body for BODY_IDLE_S gets 408 and its connection closed, so a
stalled upload holds nothing for long (headers and idle keep-alive are the server's business:
`ccgate.gateway.server`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from ccgate.gateway.credentials import Decision, has_client_credential, passed_through, placeholder_headers
from ccgate.gateway.guard import Guard
from ccgate.gateway.refused import Refused
from ccgate.gateway.routing import ConfigCache, Route, resolve_route
from ccgate.gateway.sealing import SecretBroker
from ccgate.usage.model import Exchange, Outcome
from ccgate.usage.request_body import RequestBodyTap
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
# Response headers not relayed: the framing is aiohttp's (the upstream's Content-Length stays).
RESPONSE_HOP_BY_HOP = HOP_BY_HOP - {"content-length", "accept-encoding"}
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
KEPT_RESPONSE = frozenset({"request-id", "retry-after", "content-type", "content-encoding"})
MAX_KEPT_BODY = 8 * 1024 * 1024
# Of a subscription's refusal that a fallback answers instead, this much is read for the log.
MAX_REFUSAL_BODY = 64 * 1024
# A compressed answer is kept (for the writer thread to decode, within its own 8 MiB bound) only up to
# this: 512 KiB of gzip is several MiB of JSON, past anything the Messages API answers without streaming.
MAX_KEPT_COMPRESSED = 512 * 1024
MIB = 1024 * 1024
# A request body that sends nothing for this long is given up (a slow link still sends something).
BODY_IDLE_S = 60.0
# Bodies up to this size are gathered and sent in one write (cheaper than chunk by chunk, and they
# arrive at once from a local client); larger ones stream upstream as they arrive, never held whole.
STREAM_ABOVE = 1024 * 1024


def anthropic_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": error_type, "message": message}}, status=status)


@dataclass(slots=True)
class Counters:
    started: float = field(default_factory=time.time)
    requests: int = 0
    in_flight: int = 0


class _BodyStalled(Exception):
    """The client stopped sending its request body."""


class Forwarder:
    def __init__(
        self, configs: ConfigCache, sink: Sink, *, connect_timeout: float = 10.0, body_idle_s: float = BODY_IDLE_S
    ) -> None:
        self.configs = configs
        self.sink = sink
        self.counters = Counters()
        self.broker = SecretBroker()
        self.guard = Guard(configs, sink)  # budgets, fallback, alerts (gateway/guard.py)
        self._connect_timeout = connect_timeout
        self._body_idle_s = body_idle_s
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
        await self.broker.aclose()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        counters = self.counters
        counters.requests += 1
        counters.in_flight += 1
        headers = request.headers
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
            request_headers={k: v for k in IDENTIFYING if (v := headers.get(k)) is not None},
        )
        t0 = time.perf_counter()
        try:
            return await self._exchange(request, ex, t0)
        finally:
            ex.duration_ms = (time.perf_counter() - t0) * 1000
            counters.in_flight -= 1
            self.sink.submit(ex)

    async def _exchange(self, request: web.Request, ex: Exchange, t0: float) -> web.StreamResponse:
        try:
            route = self.guard.route(resolve_route(self.configs, request.raw_path))  # a used-up window's fallback
            ex.profile, ex.path = route.profile_name, route.path
            if (spent := await self.guard.refusal(route)) is not None:
                raise spent  # a spent budget: nothing goes upstream
            limit = self.configs.get().settings.max_body_mib * MIB
            length = request.content_length
            if length is not None and length > limit:
                raise _too_large(limit)
            tap = RequestBodyTap(request.headers.get("content-encoding"))
            body: bytes | AsyncIterator[bytes] | None = None
            if length and length > STREAM_ABOVE and not self.guard.may_take_over(route):
                body = self._streamed(request, tap)
            elif length or (length is None and request.body_exists):
                # Small, chunked (whose size the 413 needs before anything goes upstream), or a request
                # a fallback may have to send again.
                body = await self._read_whole(request, tap, limit)
            if not isinstance(body, AsyncIterator):
                ex.request_bytes, ex.request_body = tap.size, tap.result()
            decision = await self._credentials(route, request)
        except Refused as refused:
            return self._refuse(ex, refused)
        except _BodyStalled:
            return self._stalled(request, ex)
        ex.credential_kind, ex.credential_fp = decision.kind, decision.fingerprint
        if not isinstance(body, AsyncIterator):
            return await self._relay(request, route, body, length, decision, ex, t0)
        try:
            return await self._relay(request, route, body, length, decision, ex, t0)
        finally:
            ex.request_bytes, ex.request_body = tap.size, tap.result()

    def _refuse(self, ex: Exchange, refused: Refused) -> web.Response:
        ex.status, ex.outcome, ex.error = refused.status, "rejected", refused.message
        response = anthropic_error(refused.status, refused.error_type, refused.message)
        response.headers.update(refused.headers)
        return response

    def _stalled(self, request: web.Request, ex: Exchange) -> web.Response:
        message = f"ccgate: the request body stopped arriving (nothing for {self._body_idle_s:.0f} s)"
        ex.status, ex.outcome, ex.error = 408, "client_closed", message
        response = anthropic_error(408, "invalid_request_error", message)
        response.force_close()  # what is left of the body is never read
        return response

    async def _next_chunk(self, content: aiohttp.StreamReader) -> bytes:
        """What has arrived of the body, or the next piece of it; b"" at its end."""
        chunk = content.read_nowait(-1)
        if chunk or content.is_eof():
            return chunk
        try:
            async with asyncio.timeout(self._body_idle_s):
                return await content.readany()
        except TimeoutError:
            raise _BodyStalled from None

    async def _streamed(self, request: web.Request, tap: RequestBodyTap) -> AsyncIterator[bytes]:
        content = request.content
        while chunk := await self._next_chunk(content):
            tap.feed(chunk)
            yield chunk

    async def _read_whole(self, request: web.Request, tap: RequestBodyTap, limit: int) -> bytes:
        chunks = []
        size = 0
        content = request.content
        while chunk := await self._next_chunk(content):
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        tap.feed(body)
        return body

    async def _credentials(self, route: Route, request: web.Request) -> Decision:
        if (diverted := await self.guard.credentials(route, request.headers, self.broker)) is not None:
            return diverted  # the fallback's own credential, never the client's
        config = self.configs.get()
        headers = request.headers
        swapped = await self.broker.unsealed(config, route.profile, headers)
        if swapped is not None:
            return swapped
        if has_client_credential(headers) or route.profile is None or not route.profile.inject_credential:
            return passed_through(headers)
        decision = await self.broker.injected(config, route.profile, headers)
        # An empty or placeholder header the client sent goes too, unless the injection replaces it.
        injected = {name.lower() for name in decision.set_headers}
        for name, value in placeholder_headers(headers).items():
            if name not in injected:
                decision.set_headers[name] = value
        return decision

    async def _relay(
        self,
        request: web.Request,
        route: Route,
        body: bytes | AsyncIterator[bytes] | None,
        length: int | None,
        decision: Decision,
        ex: Exchange,
        t0: float,
    ) -> web.StreamResponse:
        assert self._session is not None
        headers = upstream_headers(request.headers, decision, URL(route.upstream))
        if length and not isinstance(body, bytes):
            headers["Content-Length"] = str(length)  # streamed as it arrives, framed as the client framed it
        try:
            upstream = await self._session.request(
                request.method,
                route.target,
                headers=headers,
                data=body or None,
                allow_redirects=False,
                compress=None,
            )
        except _BodyStalled:
            return self._stalled(request, ex)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            return self._failed(ex, 504, "upstream_timeout", f"ccgate: upstream {route.upstream} timed out")
        except aiohttp.ClientError as exc:
            if isinstance(exc.__cause__, _BodyStalled) or isinstance(exc.__context__, _BodyStalled):
                return self._stalled(request, ex)
            reason = exc.__class__.__name__
            return self._failed(ex, 502, "upstream_unreachable", f"ccgate: cannot reach {route.upstream} ({reason})")
        ex.ttfb_ms = (time.perf_counter() - t0) * 1000
        if not isinstance(body, AsyncIterator) and self.guard.takes_over(route, upstream):
            # 429 "rejected" on a subscription with a fallback: the fallback answers instead.
            return await self._fall_back(request, route, body, length, upstream, ex)
        async with upstream:
            return await self._stream_back(request, upstream, ex)

    async def _fall_back(
        self,
        request: web.Request,
        route: Route,
        body: bytes | None,
        length: int | None,
        upstream: aiohttp.ClientResponse,
        ex: Exchange,
    ) -> web.StreamResponse:
        """Log the subscription's refusal as `ex`, then answer with the fallback's response (a second exchange)."""
        async with upstream:
            ex.status, ex.response_headers = upstream.status, kept_headers(upstream.headers)
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                ex.response_body = await upstream.content.read(MAX_REFUSAL_BODY)
        ex.outcome = "ok"  # the refusal was received whole; no byte of it reaches the client
        second = _second_attempt(ex)
        t1 = time.perf_counter()
        try:
            diverted = self.guard.divert(route, upstream)
            ex.error = f"ccgate: the window is used up; answered by fallback profile {diverted.profile_name!r}"
            second.profile = diverted.profile_name
            if (spent := await self.guard.refusal(diverted)) is not None:
                raise spent
            decision = await self._credentials(diverted, request)
            second.credential_kind, second.credential_fp = decision.kind, decision.fingerprint
            return await self._relay(request, diverted, body, length, decision, second, t1)
        except Refused as refused:
            return self._refuse(second, refused)
        finally:
            second.duration_ms = (time.perf_counter() - t1) * 1000
            self.sink.submit(second)

    def _failed(self, ex: Exchange, status: int, outcome: Outcome, message: str) -> web.Response:
        ex.status, ex.outcome, ex.error = status, outcome, message
        return anthropic_error(status, "api_error", message)

    async def _stream_back(
        self, request: web.Request, upstream: aiohttp.ClientResponse, ex: Exchange
    ) -> web.StreamResponse:
        ex.status = upstream.status
        relayed: CIMultiDict[str] = CIMultiDict()
        kept: dict[str, str] = {}
        for name, value in upstream.headers.items():
            lower = name.lower()
            if lower not in RESPONSE_HOP_BY_HOP:
                relayed.add(name, value)
            if _kept(lower):
                kept[lower] = value
        ex.response_headers = kept
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=relayed)
        tap = StreamUsage(kept.get("content-encoding")) if "text/event-stream" in kept.get("content-type", "") else None
        body: list[bytes] | None = None if tap else []
        body_size = 0
        keep_limit = MAX_KEPT_COMPRESSED if kept.get("content-encoding", "identity") != "identity" else MAX_KEPT_BODY
        ex.outcome = "client_closed"
        try:
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                if tap is not None:
                    tap.feed(chunk)
                elif body is not None:
                    body_size += len(chunk)
                    if body_size <= keep_limit:
                        body.append(chunk)
                    else:
                        body = None  # too large to parse for usage: not kept at all
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
            elif body:
                ex.response_body = b"".join(body)
            if ex.outcome != "ok":
                upstream.close()
        return response


def _kept(lower_name: str) -> bool:
    return lower_name in KEPT_RESPONSE or lower_name.startswith("anthropic-ratelimit-")


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """What the usage log keeps of a response's headers, by lower-case name."""
    return {lower: value for name, value in headers.items() if _kept(lower := name.lower())}


def _second_attempt(first: Exchange) -> Exchange:
    """The fallback's exchange: the same request, logged apart from the subscription's refusal."""
    return Exchange(
        started_at=time.time(),
        profile=None,
        method=first.method,
        path=first.path,
        status=0,
        outcome="rejected",
        ttfb_ms=None,
        duration_ms=0.0,
        request_bytes=first.request_bytes,
        response_bytes=0,
        credential_kind="none",
        credential_fp=None,
        request_headers=dict(first.request_headers),
        request_body=first.request_body,
    )


def _too_large(limit: int) -> Refused:
    return Refused(413, "request_too_large", f"ccgate: request body over {limit // MIB} MiB")


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


@functools.lru_cache(maxsize=64)  # clients send the same offer on every request
def accepted_encodings(offered: str | None) -> str | None:
    """The client's offer narrowed to what the usage parser decodes (never br or zstd)."""
    if not offered:
        return None
    names = [part.split(";")[0].strip().lower() for part in offered.split(",")]
    kept = [n for n in names if n in DECODABLE]
    return ", ".join(kept) if kept else "identity"
