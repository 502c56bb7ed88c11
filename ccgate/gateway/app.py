"""The aiohttp application: guards, ccgate's own endpoints, and the catch-all forward route.

Any web page can send requests to a localhost port, so every request passes two guards
first: its Host header must be exactly a loopback name or the bound address, with at most a
port (parsed strictly: `127.0.0.1:1@evil.example` and `[::1]evil` are not), which defeats DNS
rebinding; and browser requests from another origin are refused. The request target must be a
path (an absolute-form `GET http://127.0.0.1/...` would let the URL vouch for a foreign Host).
The dashboard's own same-origin requests under /ccgate/ pass.

A browser's no-cors request (an <img> or <script> tag, a form) may carry neither Origin nor
Sec-Fetch-Site in older browsers, but it can never carry a header outside the CORS safelist.
Every API client does: the SDKs and Claude Code always send `anthropic-version`, and
credentials travel in `x-api-key` or `Authorization`. So a forwarded request needs one of
API_HEADERS. Nothing under /ccgate is ever forwarded, whatever the method or encoding.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from ccgate.config import Config
from ccgate.gateway.connections import ConnectionCap
from ccgate.gateway.health import health
from ccgate.gateway.keys import BIND, CONFIG, CONNECTIONS, FORWARDER, SINK
from ccgate.gateway.proxy import Forwarder, anthropic_error
from ccgate.gateway.routing import PREFIX, ConfigCache
from ccgate.usage.sink import Sink
from ccgate.web.routes import setup_web

OWN_PREFIX = "/ccgate/"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Claude Code's connectivity probes: answered at once, never forwarded.
PROBE_PATHS = frozenset({"/", "/api/hello"})
OWN_NAMESPACE = "/ccgate"
# Headers no web page can attach to a request without a CORS preflight, and every API client sends one.
API_HEADERS = ("anthropic-version", "x-api-key", "authorization", "x-litellm-api-key")
# host [":" port]: a name or IPv4 address, or an IPv6 literal in brackets; nothing else.
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    config: Config,
    sink: Sink,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    allow_remote: bool = False,
    connections: ConnectionCap | None = None,
) -> web.Application:
    configs = ConfigCache(config)
    forwarder = Forwarder(configs, sink, body_idle_s=config.settings.body_idle_timeout_s)
    app = web.Application(
        client_max_size=config.settings.max_body_mib * 1024 * 1024,
        middlewares=[*([connections.middleware] if connections else []), guard_middleware(host, allow_remote)],
        handler_args={"auto_decompress": False},
    )
    app[FORWARDER], app[CONFIG], app[SINK], app[BIND] = forwarder, configs, sink, (host, port)
    if connections is not None:
        app[CONNECTIONS] = connections
    app.router.add_get("/ccgate/health", health)
    app.router.add_get("/health", health)
    setup_web(app)
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    await app[SINK].start()
    await app[FORWARDER].start()


async def _stop(app: web.Application) -> None:
    await app[FORWARDER].close()
    await app[SINK].close()


async def forward(request: web.Request) -> web.StreamResponse:
    if request.method == "HEAD" and _is_probe(request.raw_path):
        return web.Response(status=200)
    if _own_namespace(request):
        return anthropic_error(404, "not_found_error", "ccgate: no such ccgate endpoint (never forwarded)")
    if not _api_client(request):
        return anthropic_error(
            403,
            "permission_error",
            "ccgate: refused: no API header (anthropic-version, x-api-key or authorization), "
            "as in a browser page's request; API clients send one",
        )
    return await request.app[FORWARDER].handle(request)


def _own_namespace(request: web.Request) -> bool:
    """/ccgate itself or anything below it, however the path was spelled (%63cgate decodes to it)."""
    return any(
        path == OWN_NAMESPACE or path.startswith(OWN_NAMESPACE + "/") or path.startswith(OWN_NAMESPACE + "?")
        for path in (request.path, request.raw_path)
    )


def _api_client(request: web.Request) -> bool:
    headers = request.headers
    if any(name in headers for name in API_HEADERS):
        return True
    origin = headers.get("Origin")
    return origin is not None and origin in request.app[CONFIG].get().settings.allowed_origins


def _is_probe(raw_path: str) -> bool:
    path = raw_path.split("?", 1)[0]
    if path.startswith(PREFIX):
        path = "/" + path[len(PREFIX) :].partition("/")[2]
    return path in PROBE_PATHS


def guard_middleware(bound_host: str, allow_remote: bool) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.raw_path.startswith("/"):
            return anthropic_error(400, "invalid_request_error", "ccgate: request target must be a path")
        if not host_allowed(request.headers.get("Host"), bound_host, allow_remote):
            return anthropic_error(403, "permission_error", "ccgate: Host header is not this machine's loopback")
        if not origin_allowed(request):
            return anthropic_error(403, "permission_error", "ccgate: browser requests from other origins are refused")
        return await handler(request)

    return guard


def host_allowed(host_header: str | None, bound_host: str, allow_remote: bool) -> bool:
    name = _hostname(host_header)
    if name is None:
        return False
    if name in LOOPBACK_NAMES or name == bound_host.lower() or name.strip("[]") == bound_host.lower().strip("[]"):
        return True
    # Serving other machines on purpose (--allow-remote): they address it by IP, never by a DNS name.
    return allow_remote and _is_ip(name)


def _hostname(host_header: str | None) -> str | None:
    """The host part of a Host header, lower-cased; None unless the whole header is host[:port]."""
    match = _HOST.fullmatch(host_header or "")
    return match.group(1).lower() if match else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    allowed = request.app[CONFIG].get().settings.allowed_origins
    if origin is not None and origin in allowed:
        return True
    same_origin = origin == f"http://{request.host}" or fetch_site == "same-origin"
    if request.path.startswith(OWN_PREFIX) and same_origin and (origin is None or origin == f"http://{request.host}"):
        return True
    # No Origin and no cross-site fetch metadata: not a browser page (Claude Code, curl, SDKs).
    return origin is None and fetch_site in (None, "none")
