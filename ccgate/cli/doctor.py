"""`ccgate doctor`: the checklist, as lines or JSON; exit 1 when anything fails."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ccgate.cli._common import print_json

MARK = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def doctor(
    online: bool = typer.Option(False, "--online", help="Also check that each profile's upstream answers."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check keyring, config, profiles, environment, Claude Code settings, forwarder and usage log.

    Example: ccgate doctor --online
    """
    from ccgate import doctor as checks

    found = checks.run(os.environ, Path.cwd(), online=online)
    if as_json:
        print_json([c.as_dict() for c in found])
    else:
        for c in found:
            print(f"{MARK[c.status]}  {c.name}: {c.detail}")
            if c.fix and c.status != "ok":
                print(f"      fix: {c.fix}")
    if checks.failed(found):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(doctor)
