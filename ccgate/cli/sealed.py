"""`ccgate sealed list|revoke`: the handles that stand in for secrets."""

from __future__ import annotations

import time

import typer

from ccgate.cli._common import load, print_json
from ccgate.errors import UsageError
from ccgate.text import plural

sealed_app = typer.Typer(help="List and revoke sealed-credential handles.", no_args_is_help=True)


def _ttl_s() -> float:
    return load().settings.sealed_ttl_days * 86400


@sealed_app.command("list", epilog="Example: ccgate sealed list --json")
def list_(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Active handles: id, profile, purpose, created, last used (never the handle itself)."""
    from ccgate import sealed

    ttl = _ttl_s()
    with sealed.opened() as conn:
        sealed.prune(conn, ttl)
        handles = sealed.active(conn, ttl)
    rows = [
        {"id": h.id, "profile": h.profile, "purpose": h.purpose, "created": h.created, "last_used": h.last_used}
        for h in handles
    ]
    if json_out:
        print_json(rows)
        return
    if not rows:
        print("no active sealed handles")
        return

    def when(ts: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "never"

    print(f"{'id':10} {'profile':20} {'purpose':8} {'created':17} last used")
    for h in handles:
        print(f"{h.id:10} {h.profile:20} {h.purpose:8} {when(h.created):17} {when(h.last_used)}")


@sealed_app.command("revoke", epilog="Example: ccgate sealed revoke 3fa2c1d0   |   ccgate sealed revoke --all")
def revoke(
    handle_id: str = typer.Argument("", help="Handle id from `ccgate sealed list`."),
    all_: bool = typer.Option(False, "--all", help="Revoke every handle."),
) -> None:
    """Revoke a handle (or all): the forwarder answers 401 to it from then on."""
    from ccgate import sealed

    if bool(handle_id) == all_:
        raise UsageError("give a handle id or --all")
    with sealed.opened() as conn:
        if all_:
            print(f"revoked {plural(sealed.revoke_all(conn), 'handle')}")
        elif sealed.revoke(conn, handle_id):
            print(f"revoked {handle_id}")
        else:
            raise UsageError(f"no active handle {handle_id!r}; see `ccgate sealed list`")


def register(app: typer.Typer) -> None:
    app.add_typer(sealed_app, name="sealed")
