"""Write completions/ from the CLI itself: `python scripts/gen_completions.py [--check]`.

Each script asks `ccgate` for candidates at completion time (typer's protocol through the
_CCGATE_COMPLETE variable), so subcommands, options and profile names are always the installed
ones; the files only change when that protocol does. `--check` exits 1 when a shipped file
differs from what would be generated (tests/test_completions.py runs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

from typer._completion_shared import get_completion_script

from ccgate.cli.main import COMPLETE_VAR

OUT = Path(__file__).resolve().parent.parent / "completions"
FILES = {"bash": "ccgate.bash", "zsh": "_ccgate", "fish": "ccgate.fish"}


def generated() -> dict[str, str]:
    return {
        name: get_completion_script(prog_name="ccgate", complete_var=COMPLETE_VAR, shell=shell).rstrip() + "\n"
        for shell, name in FILES.items()
    }


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for name, text in generated().items():
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
            continue
        OUT.mkdir(exist_ok=True)
        path.write_text(text)
    if stale:
        print(f"completions out of date: {', '.join(stale)}; run python scripts/gen_completions.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
