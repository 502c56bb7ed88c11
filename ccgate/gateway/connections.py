"""A cap on client connections below the descriptor limit, so a fresh request is always served.

Each client connection may need a second descriptor for its upstream, so the cap is half of
what the (raised) soft limit leaves after a reserve. When a new connection would exceed it, the
connection idle longest is closed to make room: one with no request in progress, i.e. an idle
keep-alive or a request head still trickling in (oldest first). A request in progress, such as a
long stream, is never cut for it; when every connection is busy, the new one is closed instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

# Descriptors kept for everything but client connections (listening socket, SQLite, pipes, ...).
FD_RESERVE = 64
MAX_CONNECTIONS = 10_000


def connection_cap() -> int:
    """Client connections the descriptor limit has room for, each with one upstream (soft limit raised first)."""
    try:
        import resource
    except ImportError:  # Windows: no descriptor limit to speak of
        return MAX_CONNECTIONS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS * 2 + FD_RESERVE
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(8, min(MAX_CONNECTIONS, (soft - FD_RESERVE) // 2))


class ConnectionCap:
    """At most `limit` client connections; past it, the one idle longest makes room for the new one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.evicted = 0
        self._open: set[RequestHandler] = set()
        # Connections without a request in progress, the longest idle first (dicts keep insertion order).
        self._idle: dict[RequestHandler, None] = {}

    def attach(self, server: web.Server) -> None:
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            if len(self._open) >= self.limit and not self._evict():
                transport.close()  # every connection is busy with a request: nothing to give up
                return
            self._open.add(handler)
            self._idle[handler] = None

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            self._open.discard(handler)
            self._idle.pop(handler, None)
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def _evict(self) -> bool:
        for handler in self._idle:
            del self._idle[handler]
            self._open.discard(handler)
            handler.force_close()
            self.evicted += 1
            return True
        return False

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        protocol: Any = request.protocol
        self._idle.pop(protocol, None)
        try:
            return await handler(request)
        finally:
            if protocol in self._open:
                self._idle[protocol] = None

    def health(self) -> dict[str, int]:
        return {"open": len(self._open), "limit": self.limit, "evicted": self.evicted}
