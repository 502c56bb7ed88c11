"""Running the forwarder: bind, serve until SIGINT/SIGTERM, then shut down gracefully.

On a signal the listening socket closes at once; requests in flight (long streams) get up to
`grace_s` to finish, then the usage log is flushed and the process exits 0.

Connections cannot pile up: one that sends no complete request head within KEEPALIVE_S of
opening (or of its last response) is closed, which covers idle keep-alive, nothing sent at all
and a head trickled in byte by byte (aiohttp's keep-alive timer runs until a whole head has
arrived); a body that stalls is the forwarder's (proxy.BODY_IDLE_S). And there are never more
client connections than the descriptor limit leaves room for (each one may need a second
descriptor upstream): when a new one would exceed the cap, the connection idle longest (no
request in progress: idle keep-alive or a head still arriving) is closed to make room, so a
fresh request from Claude Code is served however many idle or half-open connections are held.
Streams in progress are never cut for it. The soft descriptor limit is raised to the hard one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import sys

from aiohttp import web

from ccgate.config import Config
from ccgate.errors import GatewayError, UsageError
from ccgate.gateway.app import make_app
from ccgate.gateway.connections import ConnectionCap, connection_cap
from ccgate.gateway.routing import seconds_setting
from ccgate.usage.sink import NullSink, Sink

DEFAULT_GRACE_S = 30.0
# Idle keep-alive, and the time a connection has to send a whole request head.
KEEPALIVE_S = 60.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, allow_remote: bool) -> None:
    if is_loopback(host):
        return
    if not allow_remote:
        raise UsageError(
            f"refusing to listen on {host}: anyone who can reach it could use it; "
            "pass --allow-remote if that is really what you want"
        )
    print(
        f"ccgate: warning: listening on {host}; other machines can send requests through this forwarder",
        file=sys.stderr,
    )


def make_sink(log_usage: bool) -> Sink:
    if not log_usage:
        return NullSink()
    from ccgate.usage.writer import UsageWriter

    return UsageWriter()


async def serve(
    config: Config, host: str, port: int, *, sink: Sink, allow_remote: bool = False, grace_s: float = DEFAULT_GRACE_S
) -> None:
    cap = ConnectionCap(connection_cap())
    app = make_app(config, sink, host=host, port=port, allow_remote=allow_remote, connections=cap)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=grace_s,
        handler_cancellation=True,
        keepalive_timeout=seconds_setting(config, "keepalive_timeout_s", KEEPALIVE_S),
    )
    await runner.setup()
    assert runner.server is not None
    cap.attach(runner.server)
    site = web.TCPSite(runner, host, port, reuse_address=True, backlog=512)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise GatewayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"ccgate: forwarding on http://{_url_host(host)}:{port} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    await stop.wait()
    print("ccgate: stopping; letting requests in flight finish", file=sys.stderr, flush=True)
    await runner.cleanup()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(config: Config, host: str, port: int, *, log_usage: bool, allow_remote: bool) -> None:
    check_bind(host, allow_remote)
    logging.basicConfig(level=logging.WARNING, format="ccgate: %(message)s")
    main = serve(config, host, port, sink=make_sink(log_usage), allow_remote=allow_remote)
    try:
        import uvloop
    except ImportError:  # Windows: no uvloop wheel; the stock loop is correct, only slower
        asyncio.run(main)
    else:
        # uvloop halves the event loop's share of each forwarded request (see bench/forwarder_bench.py).
        uvloop.run(main)
