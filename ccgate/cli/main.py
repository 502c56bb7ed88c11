"""The `ccgate` command: registers the command group a command line names and turns CcgateError into one line.

Each `cli/<group>.py` exposes `register(app)`; it parses arguments, calls one domain
function and renders the result. Heavy modules (aiohttp, rich, pricing) are imported
inside the commands that use them so that `ccgate use` stays fast.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

import typer

from ccgate import version_line
from ccgate.errors import CcgateError

COMPLETE_VAR = "_CCGATE_COMPLETE"  # what completions/ scripts set (scripts/gen_completions.py)

# The cli/ module whose `register(app)` adds each top-level command, in the order `--help` lists
# them. A command line names one command, so only its module is imported: importing all twelve
# costs every run ~10 ms (a report's whole-process time is ~150 ms). Help, completion and an
# unknown name register them all, so those list and complete every command.
COMMAND_MODULES: dict[str, str] = {
    "profile": "profile",
    "exec": "exec_",
    "sealed": "sealed",
    "use": "shellcmds",
    "off": "shellcmds",
    "current": "shellcmds",
    "token": "shellcmds",
    "init": "shellcmds",
    "serve": "serve",
    "stop": "serve",
    "status": "serve",
    "log": "log",
    "stats": "stats",
    "statusline": "stats",
    "import": "ledger",
    "export": "ledger",
    "budget": "budget",
    "doctor": "doctor",
    "service": "service",
    "ui": "ui",
}


def build_app(command: str | None = None) -> typer.Typer:
    """The CLI with `command`'s module registered, or every module when `command` is None or unknown."""
    app = typer.Typer(
        name="ccgate",
        help="Switch Claude Code between credentials, forward its traffic untouched, see what you spend.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    module = COMMAND_MODULES.get(command or "")
    for name in [module] if module else dict.fromkeys(COMMAND_MODULES.values()):
        importlib.import_module(f"ccgate.cli.{name}").register(app)
    _whole_short_help(app)
    return app


def _command_name(args: list[str]) -> str:
    """The command a command line names: its first word that is not an option (the root's options take no value)."""
    return next((arg for arg in args if not arg.startswith("-")), "")


def _version(value: bool) -> None:
    if value:
        print(version_line())
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


def _whole_short_help(group: typer.Typer) -> None:
    """Command lists show each command's whole first paragraph, wrapped, instead of click's cut
    at ~45 characters with "..." (click never shortens an explicit short_help)."""
    for command in group.registered_commands:
        if not isinstance(command.short_help, str):
            command.short_help = _first_paragraph(command.help or inspect.getdoc(command.callback) or "")
    for sub in group.registered_groups:
        if sub.typer_instance is None:
            continue
        help_text = sub.help if isinstance(sub.help, str) else sub.typer_instance.info.help
        if not isinstance(sub.short_help, str) and isinstance(help_text, str):
            sub.short_help = _first_paragraph(help_text)
        _whole_short_help(sub.typer_instance)


def _first_paragraph(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split("\n\n", 1)[0].split())


# Commands whose output is shell code or a secret: a character lost to the terminal's encoding
# would change a value, so they fail with a message instead (the others print a `?`).
EXACT_OUTPUT = frozenset({"use", "off", "init", "token"})


def _prepare_streams() -> None:
    """Under the C locale (an ASCII stdout) print `?` for what cannot be shown, never a traceback."""
    sys.stderr.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    if _command_name(sys.argv[1:]) not in EXACT_OUTPUT:
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]


def main() -> None:
    _prepare_streams()
    completing = COMPLETE_VAR in os.environ
    if completing:
        # Only when a shell asks for completions: typer's completion classes cost start-up time.
        import typer.completion

        typer.completion.completion_init()  # type: ignore[attr-defined]
    app = build_app(None if completing else _command_name(sys.argv[1:]))
    try:
        app()
    except CcgateError as exc:
        print(f"ccgate: {exc.message}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except UnicodeEncodeError as exc:
        print(
            f"ccgate: cannot print the output in this terminal's encoding ({exc.encoding}); "
            "use a UTF-8 locale (e.g. LANG=C.UTF-8) or set PYTHONIOENCODING=utf-8",
            file=sys.stderr,
        )
        sys.exit(1)
