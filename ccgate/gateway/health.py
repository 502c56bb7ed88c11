"""/ccgate/health: what the forwarder says about itself (also the dashboard's live counters)."""

from __future__ import annotations

import time

from aiohttp import web

from ccgate import __version__
from ccgate.gateway.keys import BIND, CONNECTIONS, FOLLOWER, FORWARDER, SINK


def health_report(app: web.Application) -> dict[str, object]:
    counters = app[FORWARDER].counters
    host, port = app[BIND]
    return {
        "ccgate": __version__,
        "status": "ok",
        "host": host,
        "port": port,
        "uptime_s": round(time.time() - counters.started, 3),
        "requests": counters.requests,
        "in_flight": counters.in_flight,
        "log": app[SINK].health(),
        # Claude Code's transcripts, imported while serving (None: switched off or no usage log).
        "transcripts": app[FOLLOWER].health() if FOLLOWER in app else None,
        "connections": app[CONNECTIONS].health() if CONNECTIONS in app else None,
    }


async def health(request: web.Request) -> web.Response:
    return web.json_response(health_report(request.app))
