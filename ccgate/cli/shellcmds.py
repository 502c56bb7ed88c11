"""`ccgate use`, `off`, `current`, `token`, `init`: the commands that run in every shell.

Only the config, the secret store and the shell renderer are imported here: no aiohttp,
rich or pricing (bench/use_bench.py keeps this honest).
"""

from __future__ import annotations

import os
import sys

import typer

from ccgate.cli._common import GateOpt, SealedOpt, choices, complete_profile, load, store_for, warn
from ccgate.profiles import (
    PROFILE_VAR,
    SEALED_VAR,
    clearing_environment,
    conflicts,
    get_profile,
    load_credentials,
)
from ccgate.shell import SHELLS, detect, init_script, normalize, render
from ccgate.switching import profile_changes

ShellOpt = typer.Option(
    None,
    "--shell",
    help=f"One of {', '.join(SHELLS)}; detected from the parent process if omitted.",
    autocompletion=choices(SHELLS),
)


def use(
    name: str = typer.Argument(..., help="Profile to switch to.", autocompletion=complete_profile),
    shell: str | None = ShellOpt,
    gate: bool = GateOpt,
    sealed: bool = SealedOpt,
) -> None:
    """Print shell code that switches Claude Code to profile NAME: eval "$(ccgate use NAME)".

    At a terminal it prints how to run it instead (never the secret) and exits 2.
    """
    target = normalize(shell) if shell else detect()
    _refuse_terminal(target, ["use", name, *(["--gate"] if gate else []), *(["--sealed"] if sealed else [])])
    config = load()
    switch = profile_changes(config, name, gate=gate, sealed=sealed, purpose="use")
    for note in switch.notes:
        warn(note)
    sys.stdout.write(render(target, switch.changes))


def _refuse_terminal(shell: str, args: list[str]) -> None:
    """Shell code printed to a terminal switches nothing (and would show the secret): say how to run it."""
    if not sys.stdout.isatty():
        return
    command = " ".join(["ccgate", *args])
    run = f"{command} | source" if shell == "fish" else f'eval "$({command})"'
    hook = "ccgate init fish | source" if shell == "fish" else f'eval "$(ccgate init {shell})"'
    print(
        f"ccgate: `{command}` prints shell code for your shell to run, so nothing was switched; "
        f"run: {run}   (or add the hook once, {hook}, and then `{command}` works as typed)",
        file=sys.stderr,
    )
    raise typer.Exit(2)


def off(shell: str | None = ShellOpt) -> None:
    """Print shell code that unsets everything ccgate manages: eval "$(ccgate off)".

    A sealed handle this shell holds is revoked.
    """
    target = normalize(shell) if shell else detect()
    _refuse_terminal(target, ["off"])
    handle_id = os.environ.get(SEALED_VAR)
    if handle_id:
        from ccgate import sealed as sealing

        with sealing.opened() as conn:
            sealing.revoke(conn, handle_id)
    sys.stdout.write(render(target, clearing_environment(os.environ)))


def current() -> None:
    """Name the active profile and warn about conflicting variables in this environment."""
    name = os.environ.get(PROFILE_VAR)
    print(name if name else "(no ccgate profile active)")
    problems = conflicts(os.environ)
    for problem in problems:
        warn(problem)
    if problems:
        raise typer.Exit(3)


def token(
    name: str = typer.Argument(..., help="Profile whose secret to print.", autocompletion=complete_profile),
) -> None:
    """Print the bare secret, for Claude Code's apiKeyHelper setting."""
    config = load()
    profile = get_profile(config, name)
    creds = load_credentials(config, profile, store_for(config))
    print(creds.secret)


def init(
    shell: str = typer.Argument(
        ..., help="bash, zsh, fish or powershell.", autocompletion=choices(("bash", "zsh", "fish", "powershell"))
    ),
) -> None:
    """Print a shell function so that `ccgate use NAME` works without eval.

    Add to ~/.bashrc: eval "$(ccgate init bash)"; fish: ccgate init fish | source
    """
    sys.stdout.write(init_script(normalize(shell), _own_command()))


def _own_command() -> list[str]:
    """The absolute command that runs this ccgate, embedded the way direnv embeds its path."""
    argv0 = os.path.abspath(sys.argv[0])
    if os.path.basename(argv0) == "__main__.py":
        return [sys.executable, "-P", "-m", "ccgate"]  # -P: never ccgate code from the working directory
    return [argv0]


def register(app: typer.Typer) -> None:
    app.command(epilog='Example: eval "$(ccgate use max)"   (fish: ccgate use max | source)')(use)
    app.command(epilog='Example: eval "$(ccgate off)"')(off)
    app.command(epilog="Example: ccgate current")(current)
    app.command(epilog='Example, in ~/.claude/settings.json: {"apiKeyHelper": "ccgate token work"}')(token)
    app.command(epilog="Example: echo 'eval \"$(ccgate init bash)\"' >> ~/.bashrc")(init)
