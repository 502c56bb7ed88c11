"""Mounts the dashboard on the forwarder's app: the page, /ccgate/api/*, /ccgate/metrics.

Every route is GET-only and reads; nothing here changes state. The forwarder's Host/Origin
guard middleware runs before these handlers; on top of it every /ccgate/ response carries a
strict Content-Security-Policy (only this origin's own script, style and connections) and no
CORS header at all, so no other origin can read anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from ccgate.gateway.health import health_report
from ccgate.gateway.keys import CONFIG, FORWARDER, SINK
from ccgate.reports.feed import FEED_FIELDS, feed_row
from ccgate.usage.model import UsageRecord
from ccgate.web import api
from ccgate.web.live import LiveHub
from ccgate.web.metrics import CONTENT_TYPE, Metrics

STATIC_DIR = Path(__file__).parent / "static"
STATIC_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(slots=True)
class Dashboard:
    reader: api.Reader
    hub: LiveHub
    metrics: Metrics
    static: dict[str, tuple[bytes, str]]


DASHBOARD = web.AppKey("dashboard", Dashboard)


def setup_web(app: web.Application) -> None:
    sink = app[SINK]
    configs = app[CONFIG]
    counters = app[FORWARDER].counters
    metrics = Metrics(in_flight=lambda: counters.in_flight, log_health=sink.health)
    dash = Dashboard(
        reader=api.Reader(api.usage_db_path(sink), configs.get),
        hub=LiveHub(),
        metrics=metrics,
        static=_load_static(),
    )
    app[DASHBOARD] = dash
    sink.add_listener(lambda rec, cost: _on_record(dash, rec, cost))  # --no-log: never called
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_streams)
    r = app.router
    r.add_get("/ccgate", _redirect_root)
    r.add_get("/ccgate/", _page)
    r.add_get("/ccgate/static/{name}", _static)
    r.add_get("/ccgate/metrics", _metrics)
    r.add_get("/ccgate/api/live", _live)
    r.add_get("/ccgate/api/now", _now)
    r.add_get("/ccgate/api/limits", _limits)
    r.add_get("/ccgate/api/spend", _spend)
    r.add_get("/ccgate/api/sessions", _sessions)
    r.add_get("/ccgate/api/sessions/{session_id}", _session)
    r.add_route("*", "/ccgate/{tail:.*}", _not_found)  # never forward our own namespace upstream


def _load_static() -> dict[str, tuple[bytes, str]]:
    """The page's files, read once: a fixed set, so no path from a request ever reaches the filesystem."""
    out = {}
    for path in STATIC_DIR.iterdir():
        if path.suffix in STATIC_TYPES:
            out[path.name] = (path.read_bytes(), STATIC_TYPES[path.suffix])
    return out


def _on_record(dash: Dashboard, rec: UsageRecord, cost: Decimal | None) -> None:
    row = feed_row({name: getattr(rec, name, None) for name in FEED_FIELDS}, cost)
    dash.metrics.observe(rec, row["cost_usd"])
    if dash.hub.subscribers:
        dash.hub.publish(row)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/ccgate"):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)


async def _close_streams(app: web.Application) -> None:
    app[DASHBOARD].hub.close()


def _dash(request: web.Request) -> Dashboard:
    return request.app[DASHBOARD]


async def _redirect_root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ccgate/")


async def _page(request: web.Request) -> web.StreamResponse:
    body, ctype = _dash(request).static["index.html"]
    return web.Response(body=body, headers={"Content-Type": ctype, "Cache-Control": "no-cache"})


async def _static(request: web.Request) -> web.StreamResponse:
    found = _dash(request).static.get(request.match_info["name"])
    if found is None or found[1].startswith("text/html"):
        raise web.HTTPNotFound()
    return web.Response(body=found[0], headers={"Content-Type": found[1], "Cache-Control": "no-cache"})


async def _metrics(request: web.Request) -> web.StreamResponse:
    return web.Response(body=_dash(request).metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def _live(request: web.Request) -> web.StreamResponse:
    return await _dash(request).hub.stream(request, lambda: _state(request.app))


def _state(app: web.Application) -> dict[str, Any]:
    """What the Now view's counters show; uptime left out so an idle stream stays quiet."""
    report = health_report(app)
    return {k: report[k] for k in ("requests", "in_flight", "log")}


def _json(data: Any) -> web.Response:
    return web.json_response(data, headers={"Cache-Control": "no-store"})


def _bad(exc: api.BadQuery) -> web.Response:
    return web.json_response({"error": str(exc)}, status=400)


def _params(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items()}


async def _now(request: web.Request) -> web.StreamResponse:
    try:
        limit = api.whole_number(_params(request), "limit", 50, api.MAX_LIMIT)
        data = await _dash(request).reader.run(api.now_view, {}, limit)
    except api.BadQuery as exc:
        return _bad(exc)
    return _json({"health": health_report(request.app), **data})


async def _limits(request: web.Request) -> web.StreamResponse:
    data = dict(await _dash(request).reader.run(api.limits_view, {}))
    data["log"] = request.app[SINK].health()
    return _json(data)


async def _spend(request: web.Request) -> web.StreamResponse:
    try:
        params = api.spend_params(_params(request))
        by, stack = params.get("by", "day"), params.get("stack", "model")
        return _json(await _dash(request).reader.run(api.spend, params, by, stack, params))
    except api.BadQuery as exc:
        return _bad(exc)


async def _sessions(request: web.Request) -> web.StreamResponse:
    try:
        limit = api.whole_number(_params(request), "limit", 50, api.MAX_LIMIT)
        return _json(await _dash(request).reader.run(api.sessions, {"by": "session"}, limit))
    except api.BadQuery as exc:
        return _bad(exc)


async def _session(request: web.Request) -> web.StreamResponse:
    sid = request.match_info["session_id"]
    return _json(await _dash(request).reader.run(api.session_tree, {"by": "session"}, sid))


async def _not_found(request: web.Request) -> web.StreamResponse:
    return web.json_response({"error": "not found"}, status=404 if request.method in ("GET", "HEAD") else 405)
