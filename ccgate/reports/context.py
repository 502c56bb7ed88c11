"""The report context: built once from what a person typed, used by every report.

`ccgate stats`, `stats blocks`, the status line, doctor, the dashboard's API and the metrics all
read the usage log through a `ReportContext`: the time zone, the range (with the default that
fits the grouping), the profiles as the rules see them and the pricer. Nothing else parses
--since/--until/--tz or decides a default range.

Default ranges: the last 7 calendar days (today included) for every grouping but two: `--by
week` covers the current week and the 3 before it, whole weeks from Monday 00:00; `--by month`
the current month and the 2 before it, from the 1st. Every report states its range and zone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from ccgate.errors import UsageError
from ccgate.reports import timespec
from ccgate.reports.groups import FAR_FUTURE, Reading
from ccgate.reports.pricing import Pricer, default_cache_file
from ccgate.reports.rules import ProfileSet

DEFAULT_DAYS = 7
DEFAULT_WEEKS = 4
DEFAULT_MONTHS = 3


@dataclass(slots=True)
class ReportContext:
    tz: tzinfo
    now: float
    since: float
    until: float
    profiles: ProfileSet
    pricer: Pricer
    plan_monthly_usd: float | None = None

    @property
    def reading(self) -> Reading:
        return Reading(self.profiles, self.pricer)

    @property
    def tz_name(self) -> str:
        return zone_name(self.tz)

    def range_label(self) -> str:
        return describe_range(self.since, self.until, self.tz)

    def range_dict(self) -> dict[str, Any]:
        return {
            "since": iso(self.since, self.tz) if self.since > 0 else None,
            "until": iso(self.until, self.tz) if self.until < FAR_FUTURE else None,
            "tz": self.tz_name,
            "label": self.range_label(),
        }


def build(
    config: Any,
    *,
    by: str = "day",
    since: str | None = None,
    until: str | None = None,
    tz: str | None = None,
    now: float | None = None,
    whole_log: bool = False,
    pricer: Pricer | None = None,
) -> ReportContext:
    """The context for a report `by` a grouping, from the user's strings (None: the defaults).
    A long-lived caller (the dashboard) passes the pricer it keeps, so rate cards are looked up once."""
    zone = timespec.resolve_tz(tz)
    moment = time.time() if now is None else now
    start, end = resolve_range(by, since, until, zone, moment, whole_log=whole_log)
    return ReportContext(
        tz=zone,
        now=moment,
        since=start,
        until=end,
        profiles=ProfileSet.from_tables(config.profiles),
        pricer=pricer if pricer is not None else Pricer.from_config(config, default_cache_file()),
        plan_monthly_usd=config.settings.plan_monthly_usd,
    )


def resolve_range(
    by: str, since: str | None, until: str | None, tz: tzinfo, now: float, *, whole_log: bool = False
) -> tuple[float, float]:
    local_now = datetime.fromtimestamp(now, tz)
    if since:
        start = timespec.parse_when(since, tz, local_now, end=False)
    elif whole_log:
        start = 0.0
    else:
        start = default_since(by, tz, local_now)
    end = timespec.parse_when(until, tz, local_now, end=True) if until else FAR_FUTURE
    if end <= start:
        raise UsageError("--until must be later than --since")
    return start, end


def default_since(by: str, tz: tzinfo, now: datetime) -> float:
    today = now.astimezone(tz).date()
    if by == "week":
        first: date = today - timedelta(days=today.weekday(), weeks=DEFAULT_WEEKS - 1)
    elif by == "month":
        first = today.replace(day=1)
        for _ in range(DEFAULT_MONTHS - 1):
            first = (first - timedelta(days=1)).replace(day=1)
    else:
        first = today - timedelta(days=DEFAULT_DAYS - 1)
    return datetime(first.year, first.month, first.day, tzinfo=tz).timestamp()


def iso(ts: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(ts, tz).isoformat(timespec="seconds")


def zone_name(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def describe_range(since: float, until: float, tz: tzinfo) -> str:
    """What a report covers, in words: `2026-11-25 → now (UTC)`, `2026-11-01 through 2026-11-30 (UTC)`
    (a range ending at midnight names its last whole day), `2026-11-25 10:00 → 2026-11-25 12:30 (UTC)`."""

    def midnight(local: datetime) -> bool:
        return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)

    def when(local: datetime) -> str:
        return local.strftime("%Y-%m-%d") if midnight(local) else local.strftime("%Y-%m-%d %H:%M")

    start = "the first request" if since <= 0 else when(datetime.fromtimestamp(since, tz))
    if until >= FAR_FUTURE:
        return f"{start} → now ({zone_name(tz)})"
    local_end = datetime.fromtimestamp(until, tz)
    if midnight(local_end) and (since <= 0 or midnight(datetime.fromtimestamp(since, tz))):
        last_day = (local_end - timedelta(hours=12)).date()  # the day before, DST or not
        return f"{start} through {last_day.isoformat()} ({zone_name(tz)})"
    return f"{start} → {when(local_end)} ({zone_name(tz)})"


def require_known_profile(config: Any, profile: str | None, *, found: bool) -> None:
    """A --profile neither configured nor in the log for this range is a typo, not an empty report."""
    if profile is None or found or profile in config.profiles:
        return
    from ccgate.errors import ProfileNotFound
    from ccgate.profiles import suggestion

    raise ProfileNotFound(profile, suggestion(profile, config.profiles))
