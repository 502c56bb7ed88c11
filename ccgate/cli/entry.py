"""The `ccgate` console script: a fast path for the status line, the full CLI for everything else.

Claude Code runs `ccgate statusline` on every prompt; importing typer and every command module
costs more than the whole status line's work, so that one command skips them; so does the
commonest TAB, a profile name (cli/fastcomplete.py), and `ccgate --version`.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    if "_CCGATE_COMPLETE" in os.environ:
        from ccgate.cli.fastcomplete import reply

        answer = reply()
        if answer is not None:
            text, status = answer
            if text is not None:
                print(text)
            sys.exit(status)
    if sys.argv[1:] == ["--version"]:
        from ccgate import version_line

        print(version_line())
        return
    if sys.argv[1:] == ["statusline"]:
        from ccgate.reports.statusline import main as statusline

        statusline()
        return
    from ccgate.cli.main import main as full_cli

    full_cli()
