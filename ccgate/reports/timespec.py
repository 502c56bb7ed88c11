"""--since/--until/--tz: dates, date-times and relative spans (24h, 7d, 2w) in the report's zone."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

from ccgate.errors import UsageError

RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def resolve_tz(name: str | None) -> tzinfo:
    """An IANA zone by name; by default the local zone (a real zone, so DST changes are honoured)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if name:
        if name.upper() in ("UTC", "Z"):
            return ZoneInfo("UTC")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)") from None
    env = os.environ.get("TZ", "").lstrip(":")
    candidates = [env] if env else []
    try:
        target = Path("/etc/localtime").resolve()
        if "zoneinfo" in target.parts:
            candidates.append("/".join(target.parts[target.parts.index("zoneinfo") + 1 :]))
    except OSError:
        pass
    for candidate in candidates:
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    local = datetime.now().astimezone().tzinfo
    assert local is not None
    return local


def parse_when(text: str, tz: tzinfo, now: datetime, *, end: bool) -> float:
    """Unix seconds for a --since/--until value.

    A bare date means local midnight; as --until it is inclusive (the end of that day).
    """
    text = text.strip()
    match = RELATIVE.match(text)
    if match:
        try:
            return (now - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})).timestamp()
        except (OverflowError, ValueError):
            # timedelta and datetime end at 999999999 days and at year 1.
            raise UsageError(f"{text!r} reaches back before the year 1: use a smaller span or a date") from None
    lowered = text.lower()
    if lowered in ("today", "yesterday"):
        day = now.astimezone(tz).date() - timedelta(days=1 if lowered == "yesterday" else 0)
        return _midnight(day + timedelta(days=1) if end else day, tz)
    if lowered == "now":
        return now.timestamp()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return _midnight(day + timedelta(days=1) if end else day, tz)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"cannot read {text!r} as a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM, today, or a span like 24h, 7d, 2w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        return moment.timestamp()
    except (OverflowError, ValueError, OSError):
        raise UsageError(f"{text!r} is out of the range of times ccgate can read") from None


def _midnight(day: date, tz: tzinfo) -> float:
    try:
        return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
    except (OverflowError, ValueError, OSError):
        raise UsageError(f"{day.isoformat()} is out of the range of times ccgate can read") from None


def default_since(tz: tzinfo, now: datetime, days: int = 7) -> float:
    """Local midnight `days - 1` days ago: the last `days` calendar days, today included."""
    return _midnight(now.astimezone(tz).date() - timedelta(days=days - 1), tz)
