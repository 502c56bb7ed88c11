"""The aiohttp application: guards, ccgate's own endpoints, and the catch-all forward route.

Any web page can send requests to a localhost port, so every request passes two guards
first: its Host must name this machine's loopback (or the bound address), which defeats DNS
rebinding, and browser requests from another origin are refused. The dashboard's own
same-origin requests under /ccgate/ pass.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from ccgate.config import Config
from ccgate.gateway.health import health
from ccgate.gateway.keys import BIND, CONFIG, FORWARDER, SINK
from ccgate.gateway.proxy import Forwarder, anthropic_error
from ccgate.gateway.routing import PREFIX, ConfigCache
from ccgate.usage.sink import Sink
from ccgate.web.routes import setup_web

OWN_PREFIX = "/ccgate/"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
# Claude Code's connectivity probes: answered at once, never forwarded.
PROBE_PATHS = frozenset({"/", "/api/hello"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    config: Config, sink: Sink, *, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False
) -> web.Application:
    configs = ConfigCache(config)
    forwarder = Forwarder(configs, sink)
    app = web.Application(
        client_max_size=config.settings.max_body_mib * 1024 * 1024,
        middlewares=[guard_middleware(host, allow_remote)],
        handler_args={"auto_decompress": False},
    )
    app[FORWARDER], app[CONFIG], app[SINK], app[BIND] = forwarder, configs, sink, (host, port)
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
    return await request.app[FORWARDER].handle(request)


def _is_probe(raw_path: str) -> bool:
    path = raw_path.split("?", 1)[0]
    if path.startswith(PREFIX):
        path = "/" + path[len(PREFIX) :].partition("/")[2]
    return path in PROBE_PATHS


def guard_middleware(bound_host: str, allow_remote: bool) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request.host, bound_host, allow_remote):
            return anthropic_error(403, "permission_error", "ccgate: Host header is not this machine's loopback")
        if not origin_allowed(request):
            return anthropic_error(403, "permission_error", "ccgate: browser requests from other origins are refused")
        return await handler(request)

    return guard


def host_allowed(host_header: str, bound_host: str, allow_remote: bool) -> bool:
    name = _hostname(host_header)
    if name in LOOPBACK_NAMES or name == bound_host.lower():
        return True
    # Serving other machines on purpose (--allow-remote): they address it by IP, never by a DNS name.
    return allow_remote and _is_ip(name)


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


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
