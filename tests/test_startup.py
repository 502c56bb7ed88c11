"""`ccgate use` runs in every new shell: it must not import what it does not need."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import Runner

HEAVY = ("aiohttp", "rich", "genai_prices", "prometheus_client", "sqlite3", "pydantic")


def probe(report: str) -> str:
    """A `python -c` program that runs the CLI with its arguments, then prints `report` to stderr."""
    return (
        "import sys\n"
        'sys.argv = ["ccgate", *sys.argv[1:]]\n'
        "from ccgate.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n" + report + "\n"
    )


PROBE = probe(
    f'heavy = sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))\n'
    'print("HEAVY=" + ",".join(heavy), file=sys.stderr)'
)


def test_use_imports_nothing_heavy(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input="sk-ant-oat01-x")
    for args in (["use", "max", "--shell", "bash"], ["use", "max", "--gate"], ["off"], ["token", "max"]):
        proc = subprocess.run([sys.executable, "-P", "-c", PROBE, *args], capture_output=True, text=True, check=True)
        assert "HEAVY=\n" in proc.stderr, (args, proc.stderr)


CLI_MODULES_PROBE = probe(
    'shared = ("ccgate.cli.main", "ccgate.cli._common")\n'
    'loaded = sorted(m for m in sys.modules if m.startswith("ccgate.cli.") and m not in shared)\n'
    'print("CLI=" + ",".join(loaded), file=sys.stderr)'
)


def test_a_command_imports_only_its_own_cli_module() -> None:
    for args, expected in ((["stats", "--json"], "ccgate.cli.stats"), (["current"], "ccgate.cli.shellcmds")):
        proc = subprocess.run([sys.executable, "-P", "-c", CLI_MODULES_PROBE, *args], capture_output=True, text=True)
        assert proc.stderr.rsplit("CLI=", 1)[1].strip() == expected, (args, proc.stderr)


IMPORTER_PROBE = probe(
    'loaded = [m for m in ("ccgate.usage.ledger", "ccgate.usage.transcripts") if m in sys.modules]\n'
    'print("LOADED=" + ",".join(loaded), file=sys.stderr)'
)


def test_stats_loads_the_transcript_importer_only_when_claude_code_wrote_something() -> None:
    import os
    from pathlib import Path

    projects = Path(os.environ["HOME"]) / ".claude" / "projects"

    def loaded() -> str:
        proc = subprocess.run(
            [sys.executable, "-P", "-c", IMPORTER_PROBE, "stats", "--json"], capture_output=True, text=True, check=True
        )
        return proc.stderr.rsplit("LOADED=", 1)[1].strip()

    assert loaded() == ""  # no ~/.claude/projects at all
    projects.mkdir(parents=True)
    assert loaded() == ""  # there, but empty
    (projects / "-work-repo").mkdir()
    assert loaded() == "ccgate.usage.ledger,ccgate.usage.transcripts"
