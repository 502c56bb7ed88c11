"""`ccgate service install|uninstall|status`: start the forwarder with the login session."""

from __future__ import annotations

import typer

from ccgate.cli._common import choices, print_json

service_app = typer.Typer(help="Run `ccgate serve` as a systemd user service (Linux) or launchd agent (macOS).")
KindOpt = typer.Option(
    None,
    "--kind",
    help="systemd or launchd (default: this platform's).",
    autocompletion=choices(("systemd", "launchd")),
)


def _kind(kind: str | None):  # type: ignore[no-untyped-def]
    from ccgate import service
    from ccgate.errors import UsageError

    if kind is None:
        return service.default_kind()
    if kind not in ("systemd", "launchd"):
        raise UsageError(f"unknown service kind {kind!r}: use systemd or launchd")
    return kind


@service_app.command()
def install(kind: str | None = KindOpt) -> None:
    """Write the unit/agent file and print the commands that enable it.

    Example: ccgate service install && systemctl --user enable --now ccgate.service
    """
    from ccgate import service

    written = service.install(_kind(kind))
    print(f"wrote {written.path}; to start it now and at every login run:")
    for line in written.enable:
        print(f"  {line}")


@service_app.command()
def uninstall(kind: str | None = KindOpt) -> None:
    """Remove the unit/agent file; an enabled systemd unit must be disabled first (the commands are printed).

    Example: ccgate service uninstall
    """
    from ccgate import service
    from ccgate.errors import UsageError

    chosen = _kind(kind)
    found = service.service_file(chosen)
    # `systemctl disable` needs the unit file: once it is gone, the enablement link stays behind.
    link = found.path.parent / "default.target.wants" / service.UNIT_NAME
    if chosen == "systemd" and found.path.exists() and (link.is_symlink() or link.exists()):
        raise UsageError(
            f"{service.UNIT_NAME} is enabled; disable it first: `{found.disable[0]}`, "
            "then run `ccgate service uninstall` again"
        )
    removed, existed = service.uninstall(chosen)
    if not existed:
        print(f"nothing to remove: {removed.path} does not exist")
        return
    print(f"removed {removed.path}; if it is still running, stop it with:")
    after = (f"systemctl --user stop {service.UNIT_NAME}", "systemctl --user daemon-reload")
    for line in after if chosen == "systemd" else removed.disable:  # launchctl bootout needs only the label
        print(f"  {line}")


@service_app.command()
def status(kind: str | None = KindOpt, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Whether the service file is installed and current.

    Example: ccgate service status --json
    """
    from ccgate import service

    found, state = service.status(_kind(kind))
    if as_json:
        print_json({"kind": found.kind, "path": str(found.path), "state": state})
        return
    advice = {"absent": "run `ccgate service install`", "stale": "run `ccgate service install` again", "current": ""}
    print(f"{found.kind} {found.path}: {state}" + (f" ({advice[state]})" if advice[state] else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(service_app, name="service")
