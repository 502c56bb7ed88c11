"""`ccgate statusline`: Claude Code's statusLine protocol (JSON in, one line out), fast path, never fails."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from tests.conftest import Runner
from tests.reports.conftest import rec

PROBE = """
import sys
sys.argv = ["ccgate", "statusline"]
from ccgate.cli.main import main
try:
    main()
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"rich", "genai_prices", "aiohttp", "pydantic"})
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def claude_code_input(session: str, **extra: object) -> str:
    return json.dumps(
        {
            "session_id": session,
            "model": {"id": "claude-sonnet-5", "display_name": "Sonnet 5"},
            "workspace": {"current_dir": "/tmp"},
            "cost": {"total_cost_usd": 9.99},
            **extra,
        }
    )


def seed(usage_log: Callable[..., Path]) -> float:
    now = time.time()
    midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    early = max(midnight + 1, now - 60)
    usage_log(
        [
            # Today: session S $0.60 (sonnet-5, 250k in at $2 + 10k out at $10) and another session $0.10.
            rec(
                early,
                input_tokens=250_000,
                output_tokens=10_000,
                session_id="S",
                billing="subscription",
                rl_5h_utilization=0.42,
                rl_5h_reset=int(now + 2 * 3600),
            ),
            rec(early, input_tokens=50_000, session_id="other"),
            # Yesterday, same session: in the session's cost, not in today's.
            rec(midnight - 3600, input_tokens=500_000, session_id="S"),
        ]
    )
    return now


def test_statusline_line(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    now = seed(usage_log)
    proc = ccgate("statusline", input=claude_code_input("S"))
    reset = datetime.fromtimestamp(int(now + 2 * 3600)).strftime("%H:%M")
    assert proc.stdout == f"ccgate · today $0.70 · session $1.60 · 5h 42% ↻{reset}\n"


def test_statusline_falls_back_to_claude_codes_rate_limits(ccgate: Runner) -> None:
    # No usage log yet: Claude Code's own 0-100 figure is shown instead of nothing.
    five_hour = {"used_percentage": 12.4, "resets_at": 1_900_000_000}
    payload = claude_code_input("none", rate_limits={"five_hour": five_hour})
    reset = datetime.fromtimestamp(1_900_000_000).strftime("%H:%M")
    assert ccgate("statusline", input=payload).stdout == f"ccgate · today - · 5h 12% ↻{reset}\n"


def test_statusline_never_fails(ccgate: Runner, config_toml: Callable[[str], Path]) -> None:
    for stdin in ("", "not json", "[1, 2]", '{"session_id": 5}'):
        proc = ccgate("statusline", input=stdin)
        assert proc.returncode == 0 and proc.stdout.count("\n") == 1 and proc.stdout.startswith("ccgate")
    config_toml("this is = = not toml")
    proc = ccgate("statusline", input="{}")
    assert proc.returncode == 0 and proc.stdout.startswith("ccgate")


def test_statusline_with_a_broken_config_still_shows_the_figures(
    usage_log: Callable[..., Path], ccgate: Runner, config_toml: Callable[[str], Path]
) -> None:
    now = seed(usage_log)
    config_toml("[settings]\nport = = 1\n")
    proc = ccgate("statusline", input=claude_code_input("S"))
    reset = datetime.fromtimestamp(int(now + 2 * 3600)).strftime("%H:%M")
    assert proc.returncode == 0
    figures = f"ccgate · today $0.70 · session $1.60 · 5h 42% ↻{reset}"
    assert proc.stdout == f"{figures} · config.toml broken: ccgate doctor\n"


def test_statusline_imports_neither_rich_nor_genai_prices_once_warm(usage_log: Callable[..., Path]) -> None:
    seed(usage_log)
    stdin = claude_code_input("S")
    probe = [sys.executable, "-P", "-c", PROBE]
    first = subprocess.run(probe, input=stdin, capture_output=True, text=True, check=True)
    assert "today $0.70" in first.stdout  # the first run fills the price cache
    second = subprocess.run(probe, input=stdin, capture_output=True, text=True, check=True)
    assert "today $0.70" in second.stdout
    assert "HEAVY=\n" in second.stderr, second.stderr


def test_statusline_drops_a_utilization_whose_window_has_reset(usage_log: Callable[..., Path], ccgate: Runner) -> None:
    now = time.time()
    usage_log([rec(now - 60, input_tokens=1, rl_5h_utilization=0.9, rl_5h_reset=int(now - 30))])
    line = ccgate("statusline", input=claude_code_input("x")).stdout
    assert "5h" not in line and line.startswith("ccgate · today $0.00")
    five_hour = {"used_percentage": 3, "resets_at": int(now + 3600)}
    line = ccgate("statusline", input=claude_code_input("x", rate_limits={"five_hour": five_hour})).stdout
    assert "5h 3%" in line  # Claude Code's current figure instead of the stale one


def test_statusline_marks_the_newest_current_alert_and_counts_the_others(
    usage_log: Callable[..., Path], ccgate: Runner
) -> None:
    from ccgate import alerts

    seed(usage_log)
    now = time.time()
    older = alerts.budget_alert("api", "day", "warn", 4.25, 5.0, 80, now - 3600, now + 3600, now - 60)
    newer = alerts.budget_alert("key", "week", "spent", 9.0, 9.0, 80, now - 3600, now + 3600, now)
    ended = alerts.budget_alert("old", "day", "spent", 9.0, 9.0, 80, now - 7200, now - 1, now - 7200)
    assert older and newer and ended
    alerts.record([ended, older, newer], now=now - 7200)
    line = ccgate("statusline", input=claude_code_input("S")).stdout.strip()
    assert line.endswith(" · ⚠ key: weekly budget spent (+1)")
