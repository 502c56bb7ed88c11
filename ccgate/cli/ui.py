"""`ccgate ui`: open the dashboard of the running forwarder in the default browser."""

from __future__ import annotations

import typer


def ui(
    port: int | None = typer.Option(None, "--port", "-p", help="The forwarder's port (default: the one running)."),
    no_open: bool = typer.Option(False, "--no-open", help="Only print the dashboard's address."),
) -> None:
    """Open the live dashboard (requests, limits, spend, sessions) served by `ccgate serve`.

    Examples:
      ccgate ui
      ccgate ui --no-open      # print the address, e.g. to open it elsewhere on this machine
    """
    from ccgate.cli._common import load
    from ccgate.config import check_port
    from ccgate.errors import GatewayError
    from ccgate.gateway import daemon
    from ccgate.gateway.runfile import base_url, locate

    if port is not None:
        check_port(port, "--port")
    config = load()
    base = base_url(config.settings.host, port) if port else locate(config.settings.host, config.settings.port).url
    if daemon.health(base) is None:
        raise GatewayError(
            f"no forwarder answering on {base}; start it with `ccgate serve --detach` "
            "(or `ccgate serve` in another terminal), then run `ccgate ui` again"
        )
    url = f"{base}/ccgate/"
    print(url)
    if not no_open:
        import webbrowser

        if not webbrowser.open(url):
            print("ccgate: no browser found; open the address above yourself")


def register(app: typer.Typer) -> None:
    app.command()(ui)
