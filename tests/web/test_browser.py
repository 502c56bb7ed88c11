"""The dashboard in headless Chromium against a real `ccgate serve` and the fake upstream."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from tests.fakes.upstream import UNIFIED_HEADERS, FakeUpstream, Gate, add_profile
from tests.web.conftest import OpenPage, send, shot

TIMEOUT_MS = 5000


def test_live_feed_shows_a_request_within_one_second(open_page: OpenPage, gate: Gate) -> None:
    page, _ = open_page("now")
    page.wait_for_selector("#conn.live", timeout=TIMEOUT_MS)
    for i, profile in enumerate(["max", "key", "max"]):
        assert send(gate, profile, stream=i == 0, usage={"input_tokens": 100 + i, "output_tokens": 7}) == 200
        done = time.monotonic()
        # The DOM condition, with a 1 s deadline measured from the end of the response.
        page.wait_for_function("n => document.querySelectorAll('#feed tbody tr').length >= n", arg=i + 1, timeout=1000)
        assert time.monotonic() - done < 1.0
    first = page.locator("#feed tbody tr").first
    cells = first.locator("td").all_inner_texts()
    assert cells[1] == "max" and cells[2] == "claude-sonnet-4-5" and cells[3] == "main"
    assert cells[4] == "200" and cells[5].replace("\n", "") == "102tok"
    page.wait_for_function("() => document.querySelector('#served').textContent === '3'", timeout=2000)
    shot(page, "now-live-feed")


def test_spend_view_equals_stats_json(open_page: OpenPage, gate: Gate, ccgate: Any) -> None:
    big = {
        "input_tokens": 1000,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 20000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 800,
    }
    for profile, model, usage in [
        ("max", "claude-sonnet-4-5", big),
        ("max", "claude-opus-4-1", None),
        ("key", "claude-haiku-4-5", big),
        ("key", "claude-sonnet-4-5", None),
    ]:
        assert send(gate, profile, model=model, usage=usage) == 200
    gate.wait_logged(4)
    today = time.strftime("%Y-%m-%d")
    expected = json.loads(ccgate("stats", "--json", "--by", "day", "--since", today, "--until", today).stdout)
    page, _ = open_page("spend")
    page.fill("#spend-form input[name=since]", today)
    page.fill("#spend-form input[name=until]", today)
    with page.expect_response(lambda r: "/ccgate/api/spend" in r.url and f"since={today}" in r.url):
        page.click("#spend-form button[type=submit]")
    page.wait_for_selector(f"#spend-table tbody tr[data-key='{today}']", timeout=TIMEOUT_MS)

    rows = page.locator("#spend-table tbody tr")
    assert rows.count() == len(expected["rows"]) == 1
    for i, row in enumerate(expected["rows"]):
        shown = rows.nth(i)
        assert shown.get_attribute("data-key") == row["key"]
        assert float(shown.locator("td[data-cost]").get_attribute("data-cost")) == row["cost_usd"]
        assert int(shown.locator("td[data-requests]").get_attribute("data-requests")) == row["requests"]
    totals = expected["totals"]
    assert float(page.locator("#spend-summary").get_attribute("data-total")) == totals["cost_usd"] > 0
    assert page.locator("#spend-table tfoot td[data-cost]").get_attribute("data-cost") == str(totals["cost_usd"])
    # The figures people read are the same numbers, rounded for display.
    assert f"${totals['cost_usd']:.2f}" in page.locator("#spend-summary").inner_text()
    # Stacked by model: one bar segment per model that day, legend names them.
    assert sorted(page.locator("#spend-legend span").all_inner_texts()) == sorted(
        ["claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"]
    )
    shot(page, "spend-by-model")
    with page.expect_response(lambda r: "stack=profile" in r.url):
        page.select_option("#spend-form select[name=stack]", "profile")
    page.wait_for_function("() => document.querySelectorAll('#spend-legend span').length === 2", timeout=TIMEOUT_MS)
    assert sorted(page.locator("#spend-legend span").all_inner_texts()) == ["key", "max"]
    shot(page, "spend-by-profile")


def test_limits_view_shows_upstream_utilization_and_reset(open_page: OpenPage, gate: Gate) -> None:
    assert send(gate, "max", headers={"x-fake-ratelimit": "unified"}) == 200
    gate.wait_logged(1)
    page, _ = open_page("limits")
    card = page.locator("#limits .card[data-profiles~='max']")
    card.wait_for(timeout=TIMEOUT_MS)
    text = card.inner_text()
    five_h = round(float(UNIFIED_HEADERS["anthropic-ratelimit-unified-5h-utilization"]) * 100)
    seven_d = round(float(UNIFIED_HEADERS["anthropic-ratelimit-unified-7d-utilization"]) * 100)
    assert f"{five_h}%" in text and f"{seven_d}%" in text
    for header in ("anthropic-ratelimit-unified-5h-reset", "anthropic-ratelimit-unified-7d-reset"):
        reset = int(UNIFIED_HEADERS[header])
        shown = page.evaluate("ts => new Date(ts * 1000).toLocaleString([], {hour12: false})", reset)
        assert shown in text
    assert "resets in" in text
    assert page.locator("#alarms li.none").count() == 1
    shot(page, "limits")


def test_limits_are_shown_once_per_account(open_page: OpenPage, gate: Gate, fake: FakeUpstream) -> None:
    # Two subscription profiles logged in to one account share its windows: one card, newest figures.
    add_profile("max2", "max-oauth", secret="sk-ant-oat01-second-login-" + "n" * 40, base_url=fake.url)
    unified = {"x-fake-ratelimit": "unified"}
    assert send(gate, "max", session="s-1", headers={**unified, "x-fake-5h-utilization": "0.30"}) == 200
    assert send(gate, "max2", session="s-2", headers={**unified, "x-fake-5h-utilization": "0.61"}) == 200
    gate.wait_logged(2)
    page, _ = open_page("limits")
    card = page.locator("#limits .card[data-account='acct-1']")
    card.wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#limits .card").count() == 1
    assert card.get_attribute("data-profiles") == "max max2"
    text = card.inner_text()
    assert "61%" in text and "30%" not in text and "account acct-1" in text
    assert "needs readings at least 5 minutes apart" in text  # two readings milliseconds apart: no forecast
    shot(page, "limits-per-account")


def test_billing_alarm_when_subscription_traffic_is_api_billed(open_page: OpenPage, gate: Gate) -> None:
    assert send(gate, "max", headers={"x-fake-ratelimit": "api"}) == 200
    assert send(gate, "key", headers={"x-fake-status": "429"}) == 429
    assert send(gate, "key", headers={"x-fake-ratelimit": "api"}) == 200  # an API key billed to the API: fine
    assert send(gate, "key", headers={"x-fake-status": "401"}) == 401
    gate.wait_logged(4)
    page, _ = open_page("limits")
    alarm = page.locator("#alarms li[data-kind='api_billed']")
    alarm.wait_for(timeout=TIMEOUT_MS)
    assert alarm.count() == 1
    assert "on subscription profile max came back billed to an API key" in alarm.inner_text()
    assert page.locator("#alarms li[data-kind='rate_limited']").count() == 1
    unauthorized = page.locator("#alarms li[data-kind='unauthorized']")
    assert unauthorized.count() == 1 and "expired or was revoked" in unauthorized.inner_text()
    assert "fix: claude setup-token (or /login), then ccgate profile edit key --secret" in unauthorized.inner_text()
    shot(page, "limits-billing-alarm")


def test_session_opens_into_its_agent_tree(open_page: OpenPage, gate: Gate) -> None:
    sid = "0f6b3c1e-5a5e-4d4e-9f0a-111111111111"
    send(gate, "max", session=sid)
    send(gate, "max", session=sid, agent="agent-a")
    send(gate, "max", session=sid, agent="agent-a")
    send(gate, "max", session=sid, agent="agent-b", parent="agent-a")
    send(gate, "max", session=sid, agent="agent-c")
    send(gate, "max", session="other-session")
    gate.wait_logged(6)
    page, _ = open_page("sessions")
    button = page.locator(f"button[data-session='{sid}']")
    button.focus()
    page.keyboard.press("Enter")  # keyboard reachable: the session opens from the keyboard
    page.wait_for_selector("#tree li[data-agent='main']", timeout=TIMEOUT_MS)
    main = page.locator("#tree > li[data-agent='main']")
    assert main.locator(":scope > .node").inner_text().startswith("main loop")
    assert "1 req" in main.locator(":scope > .node").inner_text()
    children = main.locator(":scope > ul > li")
    assert sorted(children.evaluate_all("els => els.map(e => e.dataset.agent)")) == ["agent-a", "agent-c"]
    agent_a = main.locator(":scope > ul > li[data-agent='agent-a']")
    assert "2 req" in agent_a.locator(":scope > .node").inner_text()
    assert agent_a.locator(":scope > ul > li[data-agent='agent-b']").count() == 1
    shot(page, "sessions-agent-tree")


def test_every_view_in_both_schemes_and_widths_stays_on_origin(open_page: OpenPage, gate: Gate) -> None:
    send(gate, "max", session="s-1", headers={"x-fake-ratelimit": "unified"})
    send(gate, "max", session="s-1", agent="a-1")
    gate.wait_logged(2)
    for scheme in ("light", "dark"):
        for width in (390, 1280):
            page, rec = open_page("now", width=width, scheme=scheme)
            for view in ("now", "limits", "spend", "sessions"):
                page.click(f"#tab-{view}")
                page.wait_for_selector(f"body[data-{view}='ready']", timeout=TIMEOUT_MS)
                # Nothing wider than the window: narrow screens scroll tables inside their box.
                overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
                assert overflow <= 0, f"{view} at {width}px overflows by {overflow}px"
                shot(page, f"{view}-{width}-{scheme}")
            bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
            assert (bg == "rgb(22, 21, 20)") == (scheme == "dark")
            paths = {u.removeprefix(gate.url).split("?")[0] for u in rec.urls}
            assert {"/ccgate/", "/ccgate/static/app.js", "/ccgate/api/live", "/ccgate/api/spend"} <= paths
            assert rec.foreign() == []


def test_keyboard_moves_between_views(open_page: OpenPage) -> None:
    page, _ = open_page("now")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "tab-now"
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("body[data-limits='ready']", timeout=TIMEOUT_MS)
    assert page.evaluate("() => document.activeElement.id") == "tab-limits"
    assert page.locator("#view-limits").is_visible() and not page.locator("#view-now").is_visible()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-spend='ready']", timeout=TIMEOUT_MS)
    assert page.locator("#tab-spend").get_attribute("aria-selected") == "true"


def test_usage_log_backlog_raises_an_alarm(open_page: OpenPage, gate: Gate) -> None:
    send(gate, "max")
    db = gate.wait_logged(1)["log"]["db_path"]
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the write lock: records must wait
    try:
        send(gate, "max")
        deadline = time.monotonic() + 10
        while gate.health()["log"]["backlog"] < 1:
            assert time.monotonic() < deadline, gate.health()
            time.sleep(0.02)
        page, _ = open_page("limits")
        alarm = page.locator("#alarms li[data-kind='backlog']")
        alarm.wait_for(timeout=TIMEOUT_MS)
        assert "waiting to be written" in alarm.inner_text()
        assert page.locator("#backlog").count() == 1
        shot(page, "limits-backlog-alarm")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    gate.wait_logged(2)
