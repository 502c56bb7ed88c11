"""Alerts on the dashboard: the API's `alerts` field and the Now and Limits views drawing it."""

from __future__ import annotations

import json
import time
import urllib.request

from ccgate import alerts
from tests.fakes.upstream import Gate
from tests.web.conftest import OpenPage, send, shot

TIMEOUT_MS = 5000


def _spent_alert(now: float) -> alerts.Alert:
    found = alerts.budget_alert("key", "day", "spent", 5.02, 5.0, 80, now - 3600, now + 3600, now)
    assert found is not None
    return found


def _api(gate: Gate, path: str) -> dict[str, object]:
    with urllib.request.urlopen(gate.url + path, timeout=5) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def test_a_new_alert_reaches_the_api_without_a_new_request(gate: Gate) -> None:
    assert send(gate, "key") == 200
    gate.wait_logged(1)
    assert _api(gate, "/ccgate/api/limits")["alerts"] == []
    # Recorded by the forwarder's worker in real life; the views' cache must not hide it for a minute.
    alerts.record([_spent_alert(time.time())])
    shown = _api(gate, "/ccgate/api/limits")["alerts"]
    assert [(a["kind"], a["profile"]) for a in shown] == [("budget_spent", "key")]  # type: ignore[index, union-attr]
    assert _api(gate, "/ccgate/api/now")["alerts"] == shown


def test_the_now_and_limits_views_show_current_alerts(open_page: OpenPage, gate: Gate) -> None:
    now = time.time()
    alerts.record([_spent_alert(now)])
    page, _ = open_page("now")
    item = page.locator("#now-alerts li[data-kind='budget_spent']")
    item.wait_for(timeout=TIMEOUT_MS)
    assert "profile key spent $5.02 of its $5.00 daily budget" in item.inner_text()
    assert "fix: raise it: ccgate budget set key --day USD" in item.inner_text()
    shot(page, "now-alerts")
    page, _ = open_page("limits")
    assert page.locator("#alerts li[data-severity='fail']").count() == 1
    shot(page, "limits-alerts")
