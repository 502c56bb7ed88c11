"""`ccgate serve`, `ccgate stop`, `ccgate status`: the forwarder in the foreground or background."""

from __future__ import annotations

import typer

from ccgate.cli._common import load, print_json
from ccgate.config import check_port


def serve(
    port: int | None = typer.Option(None, "--port", "-p", help="Port (default: settings.port, 7421)."),
    host: str | None = typer.Option(None, "--host", help="Address to bind (default 127.0.0.1)."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow binding to a non-loopback address."),
    no_log: bool = typer.Option(False, "--no-log", help="Do not write the usage log."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background (logs to the state dir)."),
) -> None:
    """Forward Claude Code's traffic to each profile's upstream, logging token usage.

    Examples:
      ccgate serve
      ccgate serve --detach && eval "$(ccgate use max --gate)"
    """
    from ccgate.gateway import daemon, server

    config = load()
    host = host or config.settings.host
    port = config.settings.port if port is None else check_port(port, "--port")
    server.check_bind(host, allow_remote)
    if detach:
        argv = ["--port", str(port), "--host", host]
        argv += ["--allow-remote"] * allow_remote + ["--no-log"] * no_log
        started = daemon.detach(argv)
        print(f"ccgate: forwarder running in the background (pid {started.pid}) on {started.url}")
        return
    daemon.refuse_if_running()
    server.run(config, host, port, log_usage=not no_log, allow_remote=allow_remote)


def stop() -> None:
    """Stop the running forwarder (started with `ccgate serve`, detached or not).

    Example: ccgate stop
    """
    from ccgate.gateway import daemon

    stopped = daemon.stop()
    print(f"ccgate: stopped pid {stopped.pid}" if stopped else "ccgate: no forwarder running")


def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Whether the forwarder answers: pid, URL, uptime, requests served, usage-log state.

    Example: ccgate status --json
    """
    from ccgate.gateway import daemon
    from ccgate.gateway.runfile import locate

    config = load()
    where = locate(config.settings.host, config.settings.port)
    found, url = where.running, where.url
    report = daemon.health(url)
    if as_json:
        print_json({"running": report is not None, "pid": found.pid if found else None, "url": url, "health": report})
    elif report is None:
        print(f"ccgate: no forwarder answering on {url}; start one with `ccgate serve --detach`")
    else:
        log = report.get("log") or {}
        assert isinstance(log, dict)
        pid = f"pid {found.pid}, " if found else ""
        print(
            f"ccgate {report['ccgate']} on {url} ({pid}up {float(str(report['uptime_s'])):.0f}s): "
            f"{report['requests']} requests, {report['in_flight']} in flight; "
            f"usage log backlog {log.get('backlog', 0)}, dropped {log.get('dropped', 0)}"
        )
    if report is None:
        raise typer.Exit(3)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(stop)
    app.command()(status)
