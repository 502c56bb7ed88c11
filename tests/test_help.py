"""Every command explains itself: `--help` works and shows an example; `--version` prints the version."""

from __future__ import annotations

import typer.main

from ccgate import __version__
from ccgate.cli.main import build_app


def leaf_commands() -> list[list[str]]:
    root = typer.main.get_command(build_app())
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            for name, sub in command.commands.items():  # type: ignore[attr-defined]
                walk(sub, [*path, name])
        else:
            found.append(path)

    walk(root, [])
    return found


def test_every_command_has_help_with_an_example(ccgate) -> None:
    commands = leaf_commands()
    assert len(commands) > 20
    missing = []
    for path in commands:
        out = ccgate(*path, "--help").stdout
        assert out.startswith("Usage:"), path
        if "Example" not in out:
            missing.append(" ".join(path))
    assert missing == [], f"--help without an example: {missing}"


def test_version(ccgate) -> None:
    assert ccgate("--version").stdout.strip() == f"ccgate {__version__}"


def test_command_lists_are_never_cut_short(ccgate) -> None:
    groups = [[], ["profile"], ["stats"], ["sealed"], ["service"]]
    for group in groups:
        out = ccgate(*group, "--help", env={"COLUMNS": "80"}).stdout
        listing = out.split("Commands:", 1)[1]
        assert "..." not in listing, (group, listing)
    root = ccgate("--help", env={"COLUMNS": "80"}).stdout
    assert "to each profile's upstream, logging token usage." in " ".join(root.split())
    assert "by period, model, profile or session." in " ".join(root.split())


def test_a_command_line_registers_only_its_commands_module() -> None:
    every = list(typer.main.get_command(build_app()).commands)  # type: ignore[attr-defined]
    assert every == [
        *("exec", "use", "off", "current", "token", "init", "serve", "stop", "status", "log", "statusline"),
        *("import", "export", "doctor", "ui", "profile", "sealed", "stats", "budget", "service"),
    ]
    alone = {name: list(typer.main.get_command(build_app(name)).commands) for name in every}  # type: ignore[attr-defined]
    assert sorted(alone["use"]) == ["current", "init", "off", "token", "use"]
    assert sorted(alone["stats"]) == ["stats", "statusline"]
    assert sorted(alone["import"]) == ["export", "import"]
    assert sorted(alone["serve"]) == ["serve", "status", "stop"]
    assert all(name in commands for name, commands in alone.items())
    assert list(typer.main.get_command(build_app("no-such-command")).commands) == every  # type: ignore[attr-defined]
