"""Running the forwarder: bind, serve until SIGINT/SIGTERM, then shut down gracefully.

On a signal the listening socket closes at once; requests in flight (long streams) get up to
`grace_s` to finish, then the usage log is flushed and the process exits 0. A second signal
ends the streams still open at once (the usage log is still flushed). Once it listens, the
forwarder announces itself in the run file (ccgate.gateway.runfile), foreground or detached.

Connections cannot pile up: one that sends no complete request head within settings.keepalive_timeout_s (60 s) of
opening (or of its last response) is closed, which covers idle keep-alive, nothing sent at all
and a head trickled in byte by byte (aiohttp's keep-alive timer runs until a whole head has
arrived); a body that stalls is the forwarder's (settings.body_idle_timeout_s). And there are never more
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
import os
import signal
import sys
from typing import TYPE_CHECKING

from aiohttp import web

from ccgate import logsafe
from ccgate.config import Config
from ccgate.errors import CcgateError, GatewayError, UsageError
from ccgate.gateway import runfile
from ccgate.gateway.app import make_app
from ccgate.gateway.connections import ConnectionCap, connection_cap
from ccgate.gateway.keys import FOLLOWER
from ccgate.usage.sink import NullSink, Sink

if TYPE_CHECKING:
    from ccgate.usage.follow import TranscriptFollower
    from ccgate.usage.roots import Root

DEFAULT_GRACE_S = 30.0


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


def make_sink(log_usage: bool, config: Config) -> Sink:
    if not log_usage:
        return NullSink()
    from ccgate.reports.pricing import Pricer, RecordPricing, default_cache_file
    from ccgate.usage.writer import UsageWriter

    return UsageWriter(pricing=RecordPricing(Pricer.from_config(config, default_cache_file())))


async def serve(
    config: Config, host: str, port: int, *, sink: Sink, allow_remote: bool = False, grace_s: float = DEFAULT_GRACE_S
) -> None:
    cap = ConnectionCap(connection_cap())
    app = make_app(config, sink, host=host, port=port, allow_remote=allow_remote, connections=cap)
    follower = transcript_follower(config, sink)
    if follower is not None:
        app[FOLLOWER] = follower
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=grace_s,
        handler_cancellation=True,
        keepalive_timeout=config.settings.keepalive_timeout_s,
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
    url = runfile.base_url(host, port)
    runfile.announce(url)
    if follower is not None:
        follower.start()
    try:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"ccgate: forwarding on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        await stop.wait()
        print(
            "ccgate: stopping; letting requests in flight finish (Ctrl-C again to end them now)",
            file=sys.stderr,
            flush=True,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _end_open_requests, runner)
        await runner.cleanup()
    finally:
        if follower is not None:
            await asyncio.get_running_loop().run_in_executor(None, follower.stop)
        runfile.withdraw()


def transcript_follower(config: Config, sink: Sink) -> TranscriptFollower | None:
    """While serving, Claude Code's transcripts keep flowing into the usage log (unless switched off)."""
    db_path = getattr(sink, "db_path", None)
    if db_path is None or not config.settings.import_while_serving:
        return None
    from ccgate.usage.follow import TranscriptFollower

    return TranscriptFollower(db_path, lambda: roots_now(config))


def roots_now(config: Config) -> list[Root]:
    """The transcript roots of config.toml as it is now (the last good one when a hand edit broke it)."""
    from ccgate.config import load_config
    from ccgate.usage.roots import roots_for

    try:
        current = load_config(config.path)
    except CcgateError:
        current = config
    return roots_for(current, os.environ)


def _end_open_requests(runner: web.AppRunner) -> None:
    """The second signal: close every connection now; each handler's own cleanup still logs its request."""
    print("ccgate: ending the requests still open", file=sys.stderr, flush=True)
    if runner.server is not None:
        for connection in list(runner.server.connections):
            connection.force_close()


def run(config: Config, host: str, port: int, *, log_usage: bool, allow_remote: bool) -> None:
    """Serve in the foreground until a signal (the caller has checked the bind address)."""
    logsafe.configure(logging.WARNING)
    main = serve(config, host, port, sink=make_sink(log_usage, config), allow_remote=allow_remote)
    try:
        import uvloop
    except ImportError:  # Windows: no uvloop wheel; the stock loop is correct, only slower
        asyncio.run(main)
    else:
        # uvloop halves the event loop's share of each forwarded request (see bench/forwarder_bench.py).
        uvloop.run(main)
