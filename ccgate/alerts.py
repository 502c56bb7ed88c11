"""Alerts: a threshold crossed becomes one alert, delivered once, wherever a person will see it.

What fires (each built by a pure function below, fed by the forwarder: gateway/guard.py):

- `budget_warn`, `budget_spent`: a budget's warn level or limit reached, once per period;
- `limit`: a subscription account's 5-hour or 7-day utilization at 80% and at 95% (the response
  headers' figure and reset), once per window;
- `api_billed`: a subscription profile's request came back billed to an API key, once a day;
- `unauthorized`: a 401 from the upstream on a profile's credential, once per credential;
- `secret_expiry`: a setup-token nearing its year, or a claude-login's stored login its expiry;
- `fallback`: a used-up subscription handed to its fallback profile, once per window.

"Once" is kept in the state dir (`alerts.json`, 0600, under a lock file): an alert's key is settled
until its period or window ends (`until`), or for good when it has none, so a restart repeats
nothing. Delivery: the file itself (the status line, the dashboard and `ccgate doctor` read the
alerts still current), a desktop notification where the platform has one (notify-send, osascript;
`desktop_notifications = false` turns it off), and `alert_command`, which gets the alert as one JSON
object on stdin. Nothing leaves the machine unless `alert_command` sends it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ccgate import paths
from ccgate.fileio import write_private
from ccgate.locks import lock_file_for, locked

if TYPE_CHECKING:
    import logging


def _log() -> logging.Logger:
    # logging (with traceback and threading) only when something goes wrong: the status line,
    # which runs on every prompt, reads alerts and never logs.
    import logging

    return logging.getLogger("ccgate.alerts")


Severity = Literal["warn", "fail"]
LIMIT_THRESHOLDS = (0.95, 0.80)  # highest first: a jump past both fires the higher one only
WINDOWS = {"5h": ("5-hour", 5 * 3600), "7d": ("7-day", 7 * 86400)}
KEEP_S = 45 * 86400  # settled keys with no end, and past alerts, are forgotten after this
RECENT_MAX = 100
CURRENT_S = 86400.0  # an alert with no period of its own stays current this long
COMMAND_TIMEOUT_S = 10.0
DESKTOP_ENV = "CCGATE_DESKTOP_NOTIFY"  # "0": no desktop notifications (the test suite sets it)


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    key: str  # the same key never fires twice while `until` lies ahead
    severity: Severity
    title: str  # short: the status line and the notification's title
    message: str
    fix: str
    profile: str | None
    at: float
    until: float | None  # the end of the period or window it belongs to (None: none)
    data: dict[str, Any] = field(default_factory=dict)
    covers: tuple[str, ...] = ()  # lower levels this one settles too (95% settles 80%)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("covers")
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "covers"}
        return cls(**known)

    def current(self, now: float) -> bool:
        return now < self.until if self.until is not None else now - self.at < CURRENT_S


# --- what fires ----------------------------------------------------------------------------------


def _clock(ts: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def budget_alert(
    profile: str,
    period: str,
    state: str,
    spent: float,
    limit: float,
    warn_pct: float,
    start: float,
    end: float,
    now: float,
    tz: tzinfo | None = None,
) -> Alert | None:
    """The alert for a budget period in `state` (ok: none)."""
    from ccgate.budgets import ADJECTIVE

    if state not in ("warn", "spent"):
        return None
    word = ADJECTIVE.get(period, period)
    base = f"budget:{profile}:{period}:{int(start)}"
    figures = {"period": period, "spent_usd": round(spent, 6), "limit_usd": limit, "warn_pct": warn_pct, "end": end}
    raise_it = f"ccgate budget set {profile} --{period} USD"
    if state == "spent":
        return Alert(
            "budget_spent",
            f"{base}:spent",
            "fail",
            f"{profile}: {word} budget spent",
            f"profile {profile} spent ${spent:.2f} of its ${limit:.2f} {word} budget; the forwarder refuses its "
            f"requests until {_clock(end, tz)}",
            f"raise it: {raise_it}, or wait for the period to end",
            profile,
            now,
            end,
            figures,
            (f"{base}:warn",),
        )
    return Alert(
        "budget_warn",
        f"{base}:warn",
        "warn",
        f"{profile}: {word} budget {spent / limit * 100:.0f}% used",
        f"profile {profile} spent ${spent:.2f} of its ${limit:.2f} {word} budget (warn level {warn_pct:g}%)",
        f"at the limit its requests are refused; raise it with {raise_it}",
        profile,
        now,
        end,
        figures,
    )


def limit_alerts(
    account: str,
    profiles: Sequence[str],
    figures: Mapping[str, Any],
    now: float,
    tz: tzinfo | None = None,
) -> list[Alert]:
    """5-hour and 7-day utilization (fractions, as the headers send them) at 80% or 95%."""
    out = []
    names = ", ".join(profiles) or account
    for window, (label, length) in WINDOWS.items():
        utilization = figures.get(f"utilization_{window}")
        if not isinstance(utilization, int | float):
            continue
        level = next((t for t in LIMIT_THRESHOLDS if utilization >= t), None)
        if level is None:
            continue
        reset = figures.get(f"reset_{window}")
        until = float(reset) if isinstance(reset, int | float) and reset > now else now + length
        resets = f"resets {_clock(until, tz)}" if isinstance(reset, int | float) else "no reset time reported"
        pct = round(level * 100)
        out.append(
            Alert(
                "limit",
                f"limit:{account}:{window}:{pct}",
                "fail" if level >= 0.95 else "warn",
                f"{names}: {label} limit {utilization * 100:.0f}%",
                f"{names}: the subscription's {label} window is {utilization * 100:.0f}% used ({resets})",
                "slow down, switch profiles, or set a fallback: ccgate profile edit NAME --fallback API_PROFILE",
                profiles[0] if len(profiles) == 1 else None,
                now,
                until,
                {"account": account, "window": window, "utilization": utilization, "reset": reset, "threshold": level},
                tuple(f"limit:{account}:{window}:{round(t * 100)}" for t in LIMIT_THRESHOLDS if t < level),
            )
        )
    return out


def api_billed_alert(profile: str, day_start: float, day_end: float, now: float) -> Alert:
    return Alert(
        "api_billed",
        f"api_billed:{profile}:{int(day_start)}",
        "fail",
        f"{profile}: billed to an API key",
        f"a request of subscription profile {profile} came back billed to an API key: the plan is not what pays",
        "check that no ANTHROPIC_API_KEY / apiKeyHelper is in play (ccgate current, ccgate doctor)",
        profile,
        now,
        day_end,
    )


def unauthorized_alert(profile: str, kind: str | None, credential_fp: str | None, now: float) -> Alert:
    fix = {
        "max-oauth": f"claude setup-token, then ccgate profile edit {profile} --secret",
        "claude-login": f"ccgate exec {profile} -- claude, then /login",
    }.get(kind or "", f"ccgate profile edit {profile} --secret (with a working credential)")
    return Alert(
        "unauthorized",
        f"unauthorized:{profile}:{credential_fp or '-'}",
        "fail",
        f"{profile}: credential rejected (401)",
        f"the upstream answered 401 to profile {profile}: its credential expired or was revoked",
        fix,
        profile,
        now,
        None,
        {"credential_fp": credential_fp},
    )


def fallback_alert(profile: str, fallback: str, reset: float, now: float, tz: tzinfo | None = None) -> Alert:
    return Alert(
        "fallback",
        f"fallback:{profile}:{int(reset)}",
        "warn",
        f"{profile}: used up, {fallback} answers",
        f"subscription profile {profile} answered 429 (window used up); its requests go to {fallback} "
        f"(billed to its credential) until {_clock(reset, tz)}",
        f"nothing to do; to stop it: ccgate profile edit {profile} --fallback ''",
        profile,
        now,
        reset,
        {"fallback": fallback, "reset": reset},
    )


# --- the state file: what fired, and the alerts still worth showing --------------------------------


def state_file() -> Path:
    return paths.state_dir() / "alerts.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"settled": {}, "recent": []}
    if not isinstance(data, dict):
        return {"settled": {}, "recent": []}
    table, recent = data.get("settled"), data.get("recent")
    return {
        "settled": table if isinstance(table, dict) else {},
        "recent": [r for r in recent if isinstance(r, dict)] if isinstance(recent, list) else [],
    }


def settled(path: Path | None = None) -> dict[str, tuple[float | None, float]]:
    """Each settled key: until when (None: for good) and when it fired."""
    return dict(_read(path or state_file())["settled"])


def is_settled(table: Mapping[str, Any], key: str, now: float) -> bool:
    entry = table.get(key)
    if not isinstance(entry, list | tuple) or len(entry) != 2:
        return False
    until, at = entry
    if until is None:
        return isinstance(at, int | float) and now - at < KEEP_S
    return isinstance(until, int | float) and now < until


def record(alerts: Iterable[Alert], now: float | None = None, path: Path | None = None) -> list[Alert]:
    """Settle the alerts not settled yet (under the file's lock, read afresh) and return those: the
    ones to deliver. Any number of processes may call this; each alert comes back from one call only."""
    path = path or state_file()
    moment = time.time() if now is None else now
    fresh: list[Alert] = []
    with locked(lock_file_for(path)):
        data = _read(path)
        table = data["settled"]
        for alert in alerts:
            if is_settled(table, alert.key, moment):
                continue
            for key in (alert.key, *alert.covers):
                table[key] = [alert.until, alert.at]
            fresh.append(alert)
        if not fresh:
            return []
        for key in [k for k in table if not is_settled(table, k, moment)]:
            del table[key]
        data["recent"] = [*data["recent"], *(a.to_dict() for a in fresh)][-RECENT_MAX:]
        write_private(path, json.dumps(data, indent=1).encode())
    return fresh


def current(now: float | None = None, path: Path | None = None) -> list[Alert]:
    """The alerts still current (their period or window not over; else fired in the last day), newest first."""
    moment = time.time() if now is None else now
    out = []
    for raw in _read(path or state_file())["recent"]:
        try:
            alert = Alert.from_dict(raw)
        except TypeError:
            continue
        if alert.current(moment):
            out.append(alert)
    # One line per key: a later one of the same key (a re-fire in a new window) replaces the older.
    newest = {a.key: a for a in sorted(out, key=lambda a: a.at)}
    return sorted(newest.values(), key=lambda a: a.at, reverse=True)


# --- delivery ------------------------------------------------------------------------------------


def deliver(alert: Alert, settings: Any) -> None:
    """Desktop notification (where there is one) and alert_command; never raises."""
    if getattr(settings, "desktop_notifications", True) and os.environ.get(DESKTOP_ENV, "1") != "0":
        _run(desktop_command(alert), None, "desktop notification")
    command = getattr(settings, "alert_command", None)
    if command:
        argv = ["/bin/sh", "-c", command] if isinstance(command, str) else [str(arg) for arg in command]
        payload = json.dumps({"source": "ccgate", **alert.to_dict()}) + "\n"
        _run(argv, payload, "alert_command")


def desktop_command(alert: Alert, platform: str | None = None) -> list[str] | None:
    """The notifier's argv (texts as arguments, never code), or None where there is none."""
    import shutil

    platform = platform or sys.platform
    if platform == "darwin":
        if shutil.which("osascript") is None:
            return None
        script = "on run argv\ndisplay notification (item 2 of argv) with title (item 1 of argv)\nend run"
        return ["osascript", "-e", script, f"ccgate: {alert.title}", alert.message]
    if shutil.which("notify-send") is None:
        return None
    if not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    ):
        return None
    urgency = "critical" if alert.severity == "fail" else "normal"
    return ["notify-send", "--app-name=ccgate", f"--urgency={urgency}", f"ccgate: {alert.title}", alert.message]


def _run(argv: list[str] | None, stdin: str | None, what: str) -> None:
    import subprocess

    if not argv:
        return
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        _log().warning("%s failed: %s", what, type(exc).__name__)
        return
    if proc.returncode != 0:
        first = (proc.stderr or "").strip().splitlines()[:1]
        _log().warning("%s exited %d%s", what, proc.returncode, f": {first[0][:200]}" if first else "")


class AlertCenter:
    """The forwarder's alerts: `fire` on the event loop returns at once; settling the file and the
    delivery (a notification, alert_command) happen in order on one worker thread."""

    def __init__(self, settings: Callable[[], Any], path: Path | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._settings = settings
        self._path = path
        self._known: dict[str, Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccgate-alerts")
        self._closed = False

    async def start(self) -> None:
        import asyncio

        self._known = await asyncio.get_running_loop().run_in_executor(self._pool, settled, self._path)

    def fire(self, alerts: Iterable[Alert]) -> None:
        if self._closed:
            return  # the forwarder is stopping: the usage log's last records alert nothing more
        now = time.time()
        for alert in alerts:
            if is_settled(self._known, alert.key, now):
                continue
            for key in (alert.key, *alert.covers):
                self._known[key] = [alert.until, alert.at]
            self._pool.submit(self._settle_and_deliver, alert)

    def _settle_and_deliver(self, alert: Alert) -> None:
        try:
            fresh = record([alert], path=self._path)
        except OSError as exc:
            _log().warning("alerts: cannot write %s (%s); delivering anyway", self._path or state_file(), exc)
            fresh = [alert]
        for one in fresh:
            deliver(one, self._settings())

    async def close(self) -> None:
        import asyncio

        self._closed = True
        await asyncio.get_running_loop().run_in_executor(None, lambda: self._pool.shutdown(wait=True))
