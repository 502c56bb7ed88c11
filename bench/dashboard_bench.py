"""Dashboard API timings and first render on a 1,000,000-row usage log.

    python bench/dashboard_bench.py [--rows 1000000] [--days 90] [--runs 7] [--no-browser]

Builds the log with bench/stats_bench.py's generator (the same realistic rows the stats
benchmark uses), starts a real `ccgate serve` on it, and times every /ccgate/api/ call and
/ccgate/metrics from a client over HTTP (min/median/max over --runs after a warm-up), then the
page's first render in headless Chromium: navigation start until the view has drawn its data.
Targets: every API call <= 300 ms, first render <= 1 s.

"cold" runs add one row to the log before each call (as a finished request does), so the API's
result cache cannot answer and the report functions run in full; "repeat" runs ask again with
the log unchanged (another tab, re-opening a view).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tomli_w
from _timing import print_table, summary
from stats_bench import build_db

from tests.fakes.upstream import Gate

API_TARGET_S = 0.300
RENDER_TARGET_S = 1.0
PROFILES = {
    "max": {"kind": "max-oauth"},
    "work": {"kind": "api-key"},
    "litellm": {"kind": "litellm-key", "base_url": "http://127.0.0.1:9"},
}


def fetch(url: str) -> bytes:
    req = urllib.request.Request(url, headers={"Sec-Fetch-Site": "same-origin"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


class LogToucher:
    """Appends one small row, like a request finishing, so cached answers are out of date."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None)

    def __call__(self) -> None:
        self.conn.execute(
            "INSERT INTO requests (ts, profile, method, path, endpoint, status, outcome) "
            "VALUES (?, 'max', 'GET', '/v1/models', 'models', 200, 'ok')",
            (time.time(),),
        )


def time_get(url: str, runs: int, touch: LogToucher | None) -> list[float]:
    fetch(url)  # warm-up: page cache, the pricer's first lookups
    samples = []
    for _ in range(runs):
        if touch is not None:
            touch()
        start = time.perf_counter()
        fetch(url)
        samples.append(time.perf_counter() - start)
    return samples


def api_rows(base: str, runs: int, touch: LogToucher) -> list[tuple[str, ...]]:
    sessions = json.loads(fetch(f"{base}/ccgate/api/sessions"))["sessions"]
    session = sessions[0]["key"] if sessions else "none"
    paths = [
        "/ccgate/api/now",
        "/ccgate/api/limits",
        "/ccgate/api/spend",  # the Spend view's default: 14 days by day, stacked by model
        "/ccgate/api/spend?stack=profile",
        "/ccgate/api/spend?by=week",
        "/ccgate/api/spend?by=month",
        "/ccgate/api/sessions",
        f"/ccgate/api/sessions/{session}",
        "/ccgate/metrics",
    ]
    rows = []
    for path in paths:
        label = path if "/sessions/" not in path else "/ccgate/api/sessions/{id}"
        for kind, toucher in (("cold", touch), ("repeat", None)):
            lo, med, hi = summary(time_get(base + path, runs, toucher))
            verdict = "ok" if med <= API_TARGET_S else "OVER"
            rows.append((f"{label} ({kind})", f"{lo * 1000:.0f}", f"{med * 1000:.0f}", f"{hi * 1000:.0f}", verdict))
    return rows


def render_rows(base: str, runs: int, touch: LogToucher) -> list[tuple[str, ...]]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CCGATE_CHROMIUM", "/usr/bin/chromium")
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for view in ("now", "limits", "spend", "sessions"):
            samples = []
            for i in range(runs + 1):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                touch()
                start = time.perf_counter()
                page.goto(f"{base}/ccgate/#{view}")
                page.wait_for_selector(f"body[data-{view}='ready']", timeout=30_000)
                if i:  # the first is a warm-up
                    samples.append(time.perf_counter() - start)
                page.close()
            lo, med, hi = summary(samples)
            verdict = "ok" if med <= RENDER_TARGET_S else "OVER"
            rows.append(
                (f"first render, #{view}", f"{lo * 1000:.0f}", f"{med * 1000:.0f}", f"{hi * 1000:.0f}", verdict)
            )
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-browser", action="store_true", help="API timings only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {f"CCGATE_{n.upper()}_DIR": str(root / n) for n in ("config", "data", "state")}
        (root / "config").mkdir()
        (root / "config" / "config.toml").write_text(tomli_w.dumps({"profiles": PROFILES}))
        (root / "data").mkdir()
        built = build_db(root / "data", args.rows, args.days)
        size = (root / "data" / "usage.db").stat().st_size / 1e6
        print(f"usage log: {args.rows:,} rows over {args.days} days, {size:.0f} MB, built in {built:.1f} s\n")
        os.environ.update(env)
        with Gate(env=env) as gate:
            touch = LogToucher(root / "data" / "usage.db")
            header = ("request", "min ms", "median ms", "max ms", "target")
            print_table(header, api_rows(gate.url, args.runs, touch))
            if not args.no_browser:
                print()
                print_table(header, render_rows(gate.url, args.runs, touch))
        print(
            f"\ntargets: API <= {API_TARGET_S * 1000:.0f} ms, first render <= {RENDER_TARGET_S * 1000:.0f} ms (median)"
        )


if __name__ == "__main__":
    main()
