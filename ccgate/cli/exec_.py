"""`ccgate exec NAME [--gate] [--sealed] [-- CMD [ARGS…]]`: a profile for one process."""

from __future__ import annotations

import os

import typer

from ccgate.cli._common import GateOpt, SealedOpt, complete_profile, load, warn
from ccgate.launch import child_environment, default_command, replace_process, run_and_wait
from ccgate.profiles import SEALED_VAR
from ccgate.switching import profile_changes


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
    # A sealed handle belongs to this process until the command's process exists, then to it
    # (recorded in that process before the command starts, so no kill -9 of ccgate can fall
    # between the two): however either ends, the handle ends with it.
    switch = profile_changes(config, name, gate=gate, sealed=sealed, purpose="exec", owner_pid=os.getpid())
    for note in switch.notes:
        warn(note)
    changes = switch.changes
    env = child_environment(os.environ, changes)
    argv = command or default_command(env)
    handle_id = changes.get(SEALED_VAR)
    if not handle_id:
        replace_process(argv, env)
    from ccgate import sealed as handles  # imported here, not in the forked child

    def hand_over() -> None:
        # Runs in the command's process before it starts. If it cannot be recorded, the handle
        # stays this process's and still ends with it.
        with handles.opened() as conn:
            handles.hand_over(conn, handle_id, os.getpid())

    def revoke() -> None:
        with handles.opened() as conn:
            handles.revoke(conn, handle_id)

    raise typer.Exit(run_and_wait(argv, env, before_exec=hand_over, cleanup=revoke))


def register(app: typer.Typer) -> None:
    app.command(
        "exec",
        epilog="Example: ccgate exec work -- claude -p 'hi'    (no command: a shell for that profile)",
    )(exec_)
