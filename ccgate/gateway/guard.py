"""What the forwarder decides around each exchange: budgets, fallback, alerts (its hooks in proxy.py).

- `route`: a subscription profile whose window is used up goes to its fallback (gateway/fallback.py);
- `refusal`: a spent budget answers the request here (gateway/budget.py);
- `credentials`: a diverted request carries the fallback's own credential, never the client's;
- `takes_over` / `divert`: a subscription's 429 "rejected" sends the request to the fallback, before
  any byte reached the client (the forwarder logs the refusal and sends the request again);
- every finished record: its cost counted, and what it crossed alerted (ccgate/alerts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import ClientResponse

from ccgate import alerts
from ccgate.alerts import Alert, AlertCenter
from ccgate.errors import CcgateError
from ccgate.gateway.budget import BudgetGuard
from ccgate.gateway.credentials import Decision
from ccgate.gateway.fallback import Diverted, FallbackState, exhausted_until, fallback_decision
from ccgate.gateway.refused import Refused
from ccgate.gateway.routing import PREFIX, ConfigCache, Route, resolve_route
from ccgate.reports.rules import API_ON_SUBSCRIPTION, ProfileSet, billing_class
from ccgate.usage.model import UsageRecord
from ccgate.usage.sink import Sink

if TYPE_CHECKING:
    from ccgate.gateway.sealing import SecretBroker

log = logging.getLogger("ccgate.gateway")
SECRET_CHECK_EVERY_S = 6 * 3600.0


class Guard:
    def __init__(self, configs: ConfigCache, sink: Sink) -> None:
        self.configs = configs
        self.alerts = AlertCenter(lambda: configs.get().settings)
        self.budgets = BudgetGuard(configs.get, lambda: _db_path(sink), self.alerts)
        self.fallback = FallbackState()
        self._timer: asyncio.Task[None] | None = None
        sink.add_listener(self.on_record)  # --no-log: never called; budgets count what the log held

    async def start(self) -> None:
        await self.alerts.start()
        await self.budgets.start()
        self._timer = asyncio.get_running_loop().create_task(self._watch_secrets())

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.budgets.close()
        await self.alerts.close()

    # --- before a request goes upstream -------------------------------------------------------

    def route(self, route: Route) -> Route:
        """The fallback's route while `route`'s subscription is used up; else `route` itself."""
        name = self.fallback.diverted(route.profile)
        if name is None or route.profile is None:
            return route
        diverted = self._diverted(route, name)
        return diverted if diverted is not None else route

    def _diverted(self, route: Route, name: str) -> Diverted | None:
        assert route.profile is not None
        try:
            target = resolve_route(self.configs, PREFIX + name + route.path)
        except Refused as refused:
            log.warning("fallback of %s: %s", route.profile.name, refused.message)
            return None
        return Diverted(target.profile, target.upstream, target.path, target.target, origin=route.profile.name)

    async def refusal(self, route: Route) -> Refused | None:
        """A spent budget's answer for a request that would spend (/v1/messages), or None."""
        from ccgate.usage.record import classify_endpoint

        if route.profile is None or classify_endpoint(route.path) != "messages":
            return None
        refused = await self.budgets.refusal(route.profile.name, time.time())
        if refused is not None and self.configs.refresh():
            # config.toml is looked at once a second; a refusal is judged by the file as it is now,
            # so a budget raised a moment ago lets the very next request through.
            refused = await self.budgets.refusal(route.profile.name, time.time())
        return refused

    async def credentials(self, route: Route, headers: Mapping[str, str], broker: SecretBroker) -> Decision | None:
        """The fallback's own credential for a diverted request; None for any other."""
        if not isinstance(route, Diverted) or route.profile is None:
            return None
        creds = await broker.credentials(self.configs.get(), route.profile)
        return fallback_decision(route.profile, creds, headers)

    # --- the subscription's answer ------------------------------------------------------------

    def may_take_over(self, route: Route) -> bool:
        """Whether a refusal of `route` could go to a fallback (its request body must be kept to send again)."""
        profile = route.profile
        return profile is not None and bool(profile.fallback) and not isinstance(route, Diverted)

    def takes_over(self, route: Route, upstream: ClientResponse) -> bool:
        if not self.may_take_over(route):
            return False
        return exhausted_until(upstream.status, upstream.headers, time.time()) is not None

    def divert(self, route: Route, upstream: ClientResponse) -> Diverted:
        """The fallback route for a request `route`'s subscription refused as used up (`takes_over`).

        From now until the window's reset its requests go there (`route`); an alert says so once.
        """
        assert route.profile is not None and route.profile.fallback is not None
        now = time.time()
        until = exhausted_until(upstream.status, upstream.headers, now) or now
        self.fallback.exhausted(route.profile.name, until)
        self.alerts.fire([alerts.fallback_alert(route.profile.name, route.profile.fallback, until, now)])
        diverted = self._diverted(route, route.profile.fallback)
        if diverted is None:
            message = f"ccgate: fallback profile {route.profile.fallback!r} of {route.profile.name!r} is not usable"
            raise Refused(503, "api_error", message)
        return diverted

    # --- after each request --------------------------------------------------------------------

    def on_record(self, rec: UsageRecord, cost: Decimal | None) -> None:
        now = time.time()
        self.budgets.add(rec, cost, now)  # brings budgets.profiles up to the current config
        self.alerts.fire(record_alerts(rec, self.budgets.profiles, now))

    async def _watch_secrets(self) -> None:
        from ccgate import health_check

        loop = asyncio.get_running_loop()
        while True:
            config = self.configs.get()
            try:
                found = await loop.run_in_executor(None, health_check.secret_alerts, config, time.time())
            except CcgateError as exc:
                log.warning("secret ages: %s", exc.message)
                found = []
            self.alerts.fire(found)
            await asyncio.sleep(SECRET_CHECK_EVERY_S)


def record_alerts(rec: UsageRecord, profiles: ProfileSet, now: float) -> list[Alert]:
    """What one finished request crossed: its account's limits, API billing on a subscription, a 401."""
    out: list[Alert] = []
    if rec.rl_5h_utilization is not None or rec.rl_7d_utilization is not None:
        figures = {
            "utilization_5h": rec.rl_5h_utilization,
            "reset_5h": rec.rl_5h_reset,
            "utilization_7d": rec.rl_7d_utilization,
            "reset_7d": rec.rl_7d_reset,
        }
        account = profiles.account_key(rec.profile, rec.account_id)
        out += alerts.limit_alerts(account, [rec.profile] if rec.profile else [], figures, now)
    if rec.profile and billing_class(rec.billing, rec.profile, profiles) == API_ON_SUBSCRIPTION:
        from ccgate.budgets import period_bounds
        from ccgate.reports.timespec import resolve_tz

        start, end = period_bounds("day", rec.ts, resolve_tz(None))
        out.append(alerts.api_billed_alert(rec.profile, start, end, now))
    if rec.status == 401 and rec.profile and rec.outcome != "rejected":
        out.append(alerts.unauthorized_alert(rec.profile, profiles.kinds.get(rec.profile), rec.credential_fp, now))
    return out


def _db_path(sink: Any) -> Path:
    from ccgate.reports import reader

    path = getattr(sink, "db_path", None)
    return Path(path) if path is not None else reader.log_path()
