"""The report functions are shared with the dashboard: importable without rich, and pricing loads
genai-prices only when a rate card is first needed."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import ccgate.reports.blocks, ccgate.reports.pricing, ccgate.reports.stats, ccgate.reports.statusline
import ccgate.reports.timespec, ccgate.cli.stats
print(sorted({m.split(".")[0] for m in sys.modules} & {"rich", "genai_prices", "typer_rich"}))
"""


def test_report_modules_import_neither_rich_nor_genai_prices() -> None:
    out = subprocess.run([sys.executable, "-P", "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
