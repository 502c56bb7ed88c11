"""Budgets in the forwarder: what each profile spent, known on the event loop, and the refusal.

No report runs per request. At start, and when config.toml changes what a figure depends on
(profiles' kinds, price overrides), the spent figures are read from the usage log in a worker
thread (reports/budgets.spent_since: the reports' own figures); after that each finished record's
cost is added as the usage writer hands it over (priced once, by reports/pricing.RecordPricing).

A record can be handed over and still wait to be written when a reading is taken, or be written
and handed over just after it: the reading also returns the keys (start time, profile) of the
log's newest gateway rows, and `merge` adds exactly the recent records the reading did not see.

Refusing: once a period's cost reaches its limit, the profile's next /v1/messages request is
answered here (Anthropic's error shape, `x-should-retry: false` so Claude Code stops at once) and
nothing goes upstream. A stream already running finishes and is counted: a period can end above
its limit by what the requests in flight at that moment cost.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

from ccgate.alerts import Alert, AlertCenter, budget_alert
from ccgate.budgets import ADJECTIVE, PERIODS, Budget, Costs, budget_state, budgets_of, counted, money, period_bounds
from ccgate.config import Config
from ccgate.errors import CcgateError
from ccgate.gateway.refused import Refused
from ccgate.reports.rules import API_ON_SUBSCRIPTION, ProfileSet, billing_class
from ccgate.usage.model import UsageRecord

log = logging.getLogger("ccgate.gateway")

# How many of the newest records a reading is checked against (see the module docstring): the
# records handed over while one reading is taken are far fewer.
RECENT = 2000
STOP_HEADERS = {"x-should-retry": "false"}
RECENT_ROWS_SQL = "SELECT ts, profile FROM requests WHERE seen & 1 AND machine IS NULL ORDER BY id DESC LIMIT ?"


@dataclass(frozen=True, slots=True)
class Live:
    """One finished request's cost, as the forwarder added it."""

    ts: float
    profile: str | None
    costs: Costs


@dataclass(slots=True)
class Reading:
    """The log's figures at one moment: each period's start and every profile's cost since it."""

    tz: tzinfo
    periods: dict[str, tuple[float, dict[str, Costs]]]
    present: set[tuple[float, str | None]] = field(default_factory=set)


class Spent:
    """Running totals per (profile, period, period start)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._totals: dict[tuple[str | None, str, float], Costs] = {}
        self._bounds: dict[str, tuple[float, float]] = {}

    def bounds(self, period: str, ts: float) -> tuple[float, float]:
        cached = self._bounds.get(period)
        if cached is not None and cached[0] <= ts < cached[1]:
            return cached
        found = period_bounds(period, ts, self.tz)
        if cached is None or found[0] >= cached[0]:
            self._bounds[period] = found  # keep the newest period at hand
        return found

    def add(self, profile: str | None, period: str, start: float, costs: Costs) -> None:
        key = (profile, period, start)
        self._totals[key] = self._totals.get(key, Costs()) + costs

    def add_live(self, live: Live) -> None:
        for period in PERIODS:
            self.add(live.profile, period, self.bounds(period, live.ts)[0], live.costs)

    def costs(self, profile: str | None, period: str, start: float) -> Costs:
        return self._totals.get((profile, period, start), Costs())


def merge(reading: Reading, recent: Iterable[Live]) -> Spent:
    """The reading's figures plus the recent records it did not see."""
    spent = Spent(reading.tz)
    for period, (start, by_profile) in reading.periods.items():
        for profile, costs in by_profile.items():
            spent.add(None if profile == "-" else profile, period, start, costs)
    for live in recent:
        if (live.ts, live.profile) not in reading.present:
            spent.add_live(live)
    return spent


def read_spent(db_path: Path, config: Config, now: float) -> Reading:
    """The log's figures for the current day, week and month (worker thread)."""
    from ccgate.reports import context, reader
    from ccgate.reports.budgets import spent_since

    ctx = context.build(config, now=now)
    try:
        conn = reader.open_log(db_path, upgrade=True)
    except sqlite3.Error as exc:
        log.warning("budgets: cannot read the usage log %s (%s); counting from zero", db_path, exc)
        conn = None
    reading = Reading(ctx.tz, {})
    try:
        if conn is not None:
            conn.execute("BEGIN")  # one snapshot for the figures and the keys
        for period in PERIODS:
            start = period_bounds(period, now, ctx.tz)[0]
            reading.periods[period] = (start, spent_since(conn, ctx, start))
        if conn is not None:
            reading.present = {(r[0], r[1]) for r in conn.execute(RECENT_ROWS_SQL, (RECENT,))}
    finally:
        if conn is not None:
            conn.close()
    return reading


def figures_key(config: Config) -> tuple[Any, ...]:
    """What in config.toml the spent figures depend on: a change means a new reading."""
    profiles = ProfileSet.from_tables(config.profiles)
    return (sorted(profiles.kinds.items()), sorted(profiles.rides_on.items()), repr(config.prices))


def record_costs(rec: UsageRecord, cost: Decimal | None, profiles: ProfileSet) -> Costs:
    """A record's cost by who paid, as the reports split it (rules.billing_class)."""
    if rec.endpoint != "messages" or not cost:
        return Costs()
    paid = billing_class(rec.billing, rec.profile, profiles)
    if paid == "subscription":
        return Costs(subscription=cost)
    if paid in ("api", API_ON_SUBSCRIPTION):
        return Costs(api=cost)
    return Costs(unknown=cost)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A period whose limit is spent."""

    budget: Budget
    period: str
    spent: Decimal
    limit: Decimal
    end: float


def spent_period(budget: Budget, spent: Spent, now: float) -> Verdict | None:
    """The first of the budget's periods whose cost has reached its limit (None: it may spend)."""
    for period, limit, used, _start, end in _periods(budget, spent, now):
        if used >= limit:
            return Verdict(budget, period, used, limit, end)
    return None


def _periods(budget: Budget, spent: Spent, now: float) -> Iterator[tuple[str, Decimal, Decimal, float, float]]:
    """Each period the budget limits: its limit, what it counts as spent, and the period's bounds."""
    for period in PERIODS:
        limit = budget.limits.get(period)
        if limit is not None:
            start, end = spent.bounds(period, now)
            yield period, limit, counted(spent.costs(budget.profile, period, start), budget), start, end


def refusal(verdict: Verdict, tz: tzinfo) -> Refused:
    word = ADJECTIVE[verdict.period]
    until = datetime.fromtimestamp(verdict.end, tz).strftime("%Y-%m-%d %H:%M")
    name = verdict.budget.profile
    raised = money(max(verdict.limit * 2, verdict.spent * Decimal("1.5")))
    return Refused(
        429,
        "rate_limit_error",
        f"ccgate: budget spent: profile {name!r} has used ${money(verdict.spent)} of its ${money(verdict.limit)} "
        f"{word} budget (the period ends {until} {_zone(tz)}); nothing was sent upstream. Raise it with "
        f"`ccgate budget set {name} --{verdict.period} {raised}`, or wait for the period to end",
        STOP_HEADERS,
    )


def _zone(tz: tzinfo) -> str:
    return getattr(tz, "key", None) or str(tz)


def budget_alerts(budget: Budget, spent: Spent, now: float) -> list[Alert]:
    out = []
    for period, limit, used, start, end in _periods(budget, spent, now):
        state = budget_state(used, limit, budget.warn_pct)
        alert = budget_alert(
            budget.profile, period, state, float(used), float(limit), budget.warn_pct, start, end, now, spent.tz
        )
        if alert is not None:
            out.append(alert)
    return out


class BudgetGuard:
    """The forwarder's budgets: `refusal` before a request goes upstream, `add` after it is done."""

    def __init__(self, config: Callable[[], Config], db_path: Callable[[], Path], alerts: AlertCenter) -> None:
        self._config_fn = config
        self._db_path = db_path
        self._alerts = alerts
        self._config: Config | None = None
        self._budgets: dict[str, Budget] = {}
        self._profiles = ProfileSet()
        self._key: tuple[Any, ...] | None = None
        self._spent: Spent | None = None
        self._recent: deque[Live] = deque(maxlen=RECENT)
        self._reading: asyncio.Task[None] | None = None
        self._again = False
        self._ctx: Any = None  # the ReportContext of the first reading (its zone, when a reading fails)

    async def start(self) -> None:
        from ccgate.reports import context

        config = self._config_fn()
        self._ctx = await asyncio.get_running_loop().run_in_executor(None, lambda: context.build(config))
        self._adopt(config)
        await self._read()

    async def close(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._reading.cancel()

    # --- on the loop ----------------------------------------------------------------------

    async def refusal(self, profile: str | None, now: float) -> Refused | None:
        """The answer to a request of `profile` if one of its budget's periods is spent, else None.

        Right after config.toml changed what the figures depend on, this waits for the new reading."""
        self._refresh()
        if self._reading is not None and not self._reading.done():
            await asyncio.shield(self._reading)
        budget = self._budgets.get(profile or "")
        if budget is None or self._spent is None:
            return None
        verdict = spent_period(budget, self._spent, now)
        return refusal(verdict, self._spent.tz) if verdict else None

    def add(self, rec: UsageRecord, cost: Decimal | None, now: float) -> None:
        """Count a finished record and its price (the usage writer's listener) and alert on what it crossed."""
        self._refresh()
        if rec.endpoint != "messages":
            return
        live = Live(rec.ts, rec.profile, record_costs(rec, cost, self._profiles))
        self._recent.append(live)
        if self._spent is not None:
            self._spent.add_live(live)
        budget = self._budgets.get(rec.profile or "")
        if budget is not None and self._spent is not None:
            self._alerts.fire(budget_alerts(budget, self._spent, now))

    @property
    def profiles(self) -> ProfileSet:
        """The profiles of the config last looked at (each record brings it up to date)."""
        return self._profiles

    def spent(self, profile: str, period: str, now: float) -> Decimal | None:
        budget = self._budgets.get(profile)
        if budget is None or self._spent is None:
            return None
        start = self._spent.bounds(period, now)[0]
        return counted(self._spent.costs(profile, period, start), budget)

    def _refresh(self) -> Config:
        config = self._config_fn()
        if config is not self._config:
            self._adopt(config)
            if figures_key(config) != self._key:
                self._schedule_read()
            elif self._spent is not None:
                self._alert_all()
        return config

    def _adopt(self, config: Config) -> None:
        self._config = config
        self._profiles = ProfileSet.from_tables(config.profiles)
        try:
            self._budgets = budgets_of(config)
        except CcgateError as exc:
            log.warning("budgets: %s; keeping the budgets read before", exc.message)

    def _schedule_read(self) -> None:
        if self._reading is not None and not self._reading.done():
            self._again = True  # a reading is under way: another follows it, with the newest config
            return
        self._reading = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        import time

        loop = asyncio.get_running_loop()
        while True:
            config, self._again = self._config_fn(), False
            self._key = figures_key(config)
            try:
                reading = await loop.run_in_executor(None, read_spent, self._db_path(), config, time.time())
            except (CcgateError, sqlite3.Error) as exc:
                log.warning("budgets: cannot read what was spent (%s); counting the requests from now on", exc)
                reading = Reading(self._ctx.tz, {})
            self._spent = merge(reading, list(self._recent))
            if not self._again:
                break
        self._alert_all()

    def _alert_all(self) -> None:
        import time

        assert self._spent is not None
        now = time.time()
        for budget in self._budgets.values():
            self._alerts.fire(budget_alerts(budget, self._spent, now))
