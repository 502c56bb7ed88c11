"""The `ccgate` command: registers each command group and turns CcgateError into one line.

Each `cli/<group>.py` exposes `register(app)`; it parses arguments, calls one domain
function and renders the result. Heavy modules (aiohttp, rich, pricing) are imported
inside the commands that use them so that `ccgate use` stays fast.
"""

from __future__ import annotations

import inspect
import os
import sys

import typer

from ccgate import __version__
from ccgate.cli import budget as budget_cli
from ccgate.cli import doctor as doctor_cli
from ccgate.cli import exec_ as exec_cli
from ccgate.cli import ledger as ledger_cli
from ccgate.cli import log as log_cli
from ccgate.cli import profile as profile_cli
from ccgate.cli import sealed as sealed_cli
from ccgate.cli import serve as serve_cli
from ccgate.cli import service as service_cli
from ccgate.cli import shellcmds
from ccgate.cli import stats as stats_cli
from ccgate.cli import ui as ui_cli
from ccgate.errors import CcgateError

COMPLETE_VAR = "_CCGATE_COMPLETE"  # what completions/ scripts set (scripts/gen_completions.py)

app = typer.Typer(
    name="ccgate",
    help="Switch Claude Code between credentials, forward its traffic untouched, see what you spend.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"ccgate {__version__}")
        raise typer.Exit()


@app.callback()
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


profile_cli.register(app)
exec_cli.register(app)
sealed_cli.register(app)
shellcmds.register(app)
serve_cli.register(app)
log_cli.register(app)
stats_cli.register(app)
ledger_cli.register(app)
budget_cli.register(app)
doctor_cli.register(app)
service_cli.register(app)
ui_cli.register(app)
_whole_short_help(app)


# Commands whose output is shell code or a secret: a character lost to the terminal's encoding
# would change a value, so they fail with a message instead (the others print a `?`).
EXACT_OUTPUT = frozenset({"use", "off", "init", "token"})


def _prepare_streams() -> None:
    """Under the C locale (an ASCII stdout) print `?` for what cannot be shown, never a traceback."""
    sys.stderr.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
    if command not in EXACT_OUTPUT:
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]


def main() -> None:
    _prepare_streams()
    if COMPLETE_VAR in os.environ:
        # Only when a shell asks for completions: typer's completion classes cost start-up time.
        import typer.completion

        typer.completion.completion_init()  # type: ignore[attr-defined]
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
