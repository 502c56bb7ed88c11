"""`ccgate exec NAME [--gate] [--sealed] [-- CMD [ARGS…]]`: a profile for one process."""

from __future__ import annotations

import os

import typer

from ccgate.cli._common import complete_profile, load
from ccgate.cli.shellcmds import GateOpt, SealedOpt, profile_changes
from ccgate.launch import child_environment, default_command, replace_process, run_and_wait
from ccgate.profiles import SEALED_VAR


def exec_(
    name: str = typer.Argument(..., help="Profile to run the command with.", autocompletion=complete_profile),
    command: list[str] | None = typer.Argument(None, help="Command and arguments (default: $SHELL)."),
    gate: bool = GateOpt,
    sealed: bool = SealedOpt,
) -> None:
    """Run a command (default: your shell) with profile NAME's environment; nothing global changes.

    With --sealed the command gets a handle instead of the secret, revoked when it ends.
    """
    config = load()
    changes = profile_changes(config, name, gate=gate, sealed=sealed, purpose="exec")
    env = child_environment(os.environ, changes)
    argv = command or default_command(env)
    handle_id = changes.get(SEALED_VAR)
    if not handle_id:
        replace_process(argv, env)
    raise typer.Exit(run_and_wait(argv, env, cleanup=lambda: _revoke(handle_id)))


def _revoke(handle_id: str) -> None:
    from ccgate import sealed

    with sealed.opened() as conn:
        sealed.revoke(conn, handle_id)


def register(app: typer.Typer) -> None:
    app.command(
        "exec",
        epilog="Example: ccgate exec work -- claude -p 'hi'    (no command: a shell for that profile)",
    )(exec_)
