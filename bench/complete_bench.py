"""How long a TAB takes: the completion request each shell's script sends `ccgate`.

    python bench/complete_bench.py [--runs N]

Rows: the floor (`python -c pass`), a profile name after `use` (answered by cli/fastcomplete.py
without typer), and an option value (`stats --by`, the full CLI). Target: a profile-name TAB
at most 60% of the full CLI's. Set PYTHONDONTWRITEBYTECODE=1 to time an install without compiled files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import print_table, summary, time_command


def ccgate_argv() -> list[str]:
    script = Path(sys.executable).with_name("ccgate")
    return [str(script)] if script.exists() else [sys.executable, "-P", "-m", "ccgate"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ccgate-bench-"))
    env = {**os.environ, **{f"CCGATE_{d.upper()}_DIR": str(root / d) for d in ("config", "data", "state")}}
    ccgate = ccgate_argv()
    for name in ("max", "work", "home"):
        subprocess.run([*ccgate, "profile", "add", name, "--kind", "claude-login", "--config-dir", str(root / name)],
                       env=env, check=True, capture_output=True)  # fmt: skip
    bash = {"_CCGATE_COMPLETE": "complete_bash"}
    typer_style = {"_CCGATE_COMPLETE": "complete_zsh"}
    fish = {"_CCGATE_COMPLETE": "complete_fish", "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    cases = [
        ("floor: python -c pass", [sys.executable, "-c", "pass"], {}),
        ("bash: ccgate use <TAB>", ccgate, {**bash, "COMP_WORDS": "ccgate use ", "COMP_CWORD": "2"}),
        ("zsh: ccgate use w<TAB>", ccgate, {**typer_style, "_TYPER_COMPLETE_ARGS": "ccgate use w"}),
        ("fish: ccgate use <TAB>", ccgate, {**fish, "_TYPER_COMPLETE_ARGS": "ccgate use "}),
        ("bash: stats --by <TAB> (full CLI)", ccgate, {**bash, "COMP_WORDS": "ccgate stats --by ", "COMP_CWORD": "3"}),
    ]
    rows = []
    floor = None
    for label, argv, extra in cases:
        t = summary(time_command(argv, {**env, **extra}, args.runs))
        floor = floor or t[1]
        rows.append([label, f"{t[0] * 1000:.0f}", f"{t[1] * 1000:.0f}", f"{t[1] / floor:.2f}"])
    print(f"{args.runs} runs each; times in ms")
    print_table(["completion request", "min", "median", "ratio (median)"], rows)


if __name__ == "__main__":
    main()
