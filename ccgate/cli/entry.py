"""The `ccgate` console script: a fast path for the status line, the full CLI for everything else.

Claude Code runs `ccgate statusline` on every prompt; importing typer and every command module
costs more than the whole status line's work, so that one command skips them.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["statusline"]:
        from ccgate.reports.statusline import main as statusline

        statusline()
        return
    from ccgate.cli.main import main as full_cli

    full_cli()
