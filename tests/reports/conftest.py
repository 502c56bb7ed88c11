"""Helpers for report tests: a real usage log (SQLite file) at the test's data dir, and config.toml."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ccgate import paths
from ccgate.usage import store
from ccgate.usage.model import UsageRecord


def rec(ts: float, model: str | None = "claude-sonnet-5", **fields: Any) -> UsageRecord:
    """A finished /v1/messages request; override any UsageRecord field."""
    base: dict[str, Any] = {
        "method": "POST",
        "path": "/v1/messages",
        "endpoint": "messages",
        "status": 200,
        "outcome": "ok",
        "profile": "max",
        "billing": "api",
    }
    base.update(fields)
    return UsageRecord(ts=ts, model=model, **base)


@pytest.fixture
def usage_log() -> Callable[[list[UsageRecord]], Path]:
    """Write records into the usage database `ccgate` will read (CCGATE_DATA_DIR of this test)."""

    def write(records: list[UsageRecord]) -> Path:
        conn = store.connect()
        store.insert_records(conn, records)
        conn.close()
        return paths.usage_db()

    return write


@pytest.fixture
def config_toml() -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = paths.config_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    return write


def wide_env(**extra: str) -> dict[str, str]:
    """A wide, colourless terminal so every column is printed."""
    return {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", **extra}


def table_rows(output: str) -> dict[str, list[str]]:
    """A rich table's body rows as {first cell: [cells]} (box-drawing separators)."""
    rows = {}
    for line in output.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            rows[cells[0]] = cells
    return rows


def table_header(output: str) -> list[str]:
    for line in output.splitlines():
        if line.startswith("┃"):
            return [c.strip() for c in line.strip("┃").split("┃")]
    raise AssertionError(f"no table header in:\n{output}")


def parse_json(text: str) -> dict[str, Any]:
    return json.loads(text)


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


__all__ = ["parse_csv", "parse_json", "rec", "table_header", "table_rows", "wide_env"]


def report_ctx(
    *,
    since: float = 0.0,
    until: float | None = None,
    tz: Any = None,
    kinds: dict[str, str] | None = None,
    rides_on: dict[str, str] | None = None,
    now: float = 1_800_000_000.0,
    pricer: Any = None,
    plan_monthly_usd: float | None = None,
) -> Any:
    """A ReportContext without config.toml: profiles by kind, a plain Pricer, UTC."""
    from datetime import UTC

    from ccgate.reports.context import ReportContext
    from ccgate.reports.groups import FAR_FUTURE
    from ccgate.reports.pricing import Pricer
    from ccgate.reports.rules import ProfileSet

    return ReportContext(
        tz=tz or UTC,
        now=now,
        since=since,
        until=FAR_FUTURE if until is None else until,
        profiles=ProfileSet(dict(kinds or {}), dict(rides_on or {})),
        pricer=pricer or Pricer(),
        plan_monthly_usd=plan_monthly_usd,
    )
