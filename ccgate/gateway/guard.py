"""What the forwarder decides around each exchange: budgets, fallback, alerts (its hooks in proxy.py).

- `route`: a subscription profile whose window is used up goes to its fallback (gateway/fallback.py);
- `refusal`: a spent budget answers the request here (gateway/budget.py);
- `credentials`: a diverted request carries the fallback's own credential, never the client's;
- `takes_over` / `take_over`: a subscription's 429 "rejected" is logged and the request goes to the
  fallback, before any byte reached the client;
- every finished record: its cost counted, and what it crossed alerted (ccgate/alerts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import ClientResponse, web

from ccgate import alerts
from ccgate.alerts import Alert, AlertCenter
from ccgate.errors import CcgateError
from ccgate.gateway.budget import BudgetGuard
from ccgate.gateway.credentials import Decision
from ccgate.gateway.fallback import Diverted, FallbackState, exhausted_until, fallback_decision
from ccgate.gateway.refused import Refused
from ccgate.gateway.routing import PREFIX, ConfigCache, Route, resolve_route
from ccgate.reports.rules import API_ON_SUBSCRIPTION, ProfileSet, billing_class
from ccgate.usage.model import Exchange, UsageRecord
from ccgate.usage.sink import Sink

if TYPE_CHECKING:
    from ccgate.gateway.proxy import Forwarder
    from ccgate.gateway.sealing import SecretBroker

log = logging.getLogger("ccgate.gateway")
SECRET_CHECK_EVERY_S = 6 * 3600.0
MAX_REFUSAL_BODY = 64 * 1024


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
            target = resolve_route(self.configs.get(), PREFIX + name + route.path)
        except Refused as refused:
            log.warning("fallback of %s: %s", route.profile.name, refused.message)
            return None
        return Diverted(target.profile, target.upstream, target.path, origin=route.profile.name)

    async def refusal(self, route: Route) -> Refused | None:
        """A spent budget's answer for a request that would spend (/v1/messages), or None."""
        from ccgate.usage.record import classify_endpoint

        if route.profile is None or classify_endpoint(route.path) != "messages":
            return None
        return await self.budgets.refusal(route.profile.name, time.time())

    async def credentials(self, route: Route, headers: Mapping[str, str], broker: SecretBroker) -> Decision | None:
        """The fallback's own credential for a diverted request; None for any other."""
        if not isinstance(route, Diverted) or route.profile is None:
            return None
        creds = await broker.credentials(self.configs.get(), route.profile)
        return fallback_decision(route.profile, creds, headers)

    # --- the subscription's answer ------------------------------------------------------------

    def takes_over(self, route: Route, upstream: ClientResponse) -> bool:
        profile = route.profile
        if profile is None or not profile.fallback or isinstance(route, Diverted):
            return False
        return exhausted_until(upstream.status, upstream.headers, time.time()) is not None

    async def take_over(
        self,
        forwarder: Forwarder,
        request: web.Request,
        route: Route,
        body: bytes,
        upstream: ClientResponse,
        ex: Exchange,
    ) -> web.StreamResponse:
        """Log the subscription's refusal as `ex`, then answer with the fallback's response."""
        from ccgate.gateway.proxy import KEPT_RESPONSE

        assert route.profile is not None and route.profile.fallback is not None
        now = time.time()
        until = exhausted_until(upstream.status, upstream.headers, now) or now
        async with upstream:
            ex.status = upstream.status
            ex.response_headers = {
                k.lower(): v
                for k, v in upstream.headers.items()
                if k.lower() in KEPT_RESPONSE or k.lower().startswith("anthropic-ratelimit-")
            }
            with contextlib.suppress(Exception):
                ex.response_body = await upstream.content.read(MAX_REFUSAL_BODY)
        ex.outcome = "ok"
        ex.error = f"ccgate: the window is used up; answered by fallback profile {route.profile.fallback!r}"
        self.fallback.exhausted(route.profile.name, until)
        self.alerts.fire([alerts.fallback_alert(route.profile.name, route.profile.fallback, until, now)])
        second = _second_attempt(ex)
        t1 = time.perf_counter()
        try:
            diverted = self._diverted(route, route.profile.fallback)
            if diverted is None:
                return forwarder._refuse(
                    second,
                    Refused(
                        503,
                        "api_error",
                        f"ccgate: fallback profile {route.profile.fallback!r} of {route.profile.name!r} is not usable",
                    ),
                )
            second.profile = diverted.profile_name
            refused = await self.refusal(diverted)
            if refused is not None:
                return forwarder._refuse(second, refused)
            try:
                decision = await self.credentials(diverted, request.headers, forwarder.broker)
            except Refused as exc:
                return forwarder._refuse(second, exc)
            assert decision is not None
            second.credential_kind, second.credential_fp = decision.kind, decision.fingerprint
            return await forwarder._relay(request, diverted, body, decision, second, t1)
        finally:
            second.duration_ms = (time.perf_counter() - t1) * 1000
            forwarder.sink.submit(second)

    # --- after each request --------------------------------------------------------------------

    def on_record(self, rec: UsageRecord) -> None:
        now = time.time()
        self.budgets.add(rec, now)
        config = self.configs.get()
        self.alerts.fire(record_alerts(rec, ProfileSet.from_tables(config.profiles), now))

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


def _second_attempt(first: Exchange) -> Exchange:
    """The fallback's exchange: the same request, logged apart from the subscription's refusal."""
    return Exchange(
        started_at=time.time(),
        profile=None,
        method=first.method,
        path=first.path,
        status=0,
        outcome="rejected",
        ttfb_ms=None,
        duration_ms=0.0,
        request_bytes=first.request_bytes,
        response_bytes=0,
        credential_kind="none",
        credential_fp=None,
        request_headers=dict(first.request_headers),
        request_body=first.request_body,
    )


def _db_path(sink: Any) -> Path:
    from ccgate.reports import reader

    path = getattr(sink, "db_path", None)
    return Path(path) if path is not None else reader.log_path()
