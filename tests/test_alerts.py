"""Alerts: what fires, that each fires once (a restart included), and where it goes."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from ccgate import alerts, paths
from ccgate.alerts import Alert, budget_alert, current, desktop_command, limit_alerts, record
from ccgate.config import Settings
from tests.fakes.upstream import FakeUpstream, Gate, add_profile

MAX = "sk-ant-oat01-alerts-" + "m" * 40
API = "sk-ant-api03-alerts-" + "a" * 40
PRICES = '\n[prices."test-model"]\ninput_mtok = 2\noutput_mtok = 10\n'
USAGE = json.dumps({"input_tokens": 100_000, "output_tokens": 10_000})  # $0.30 at PRICES


def _alert(key: str = "k", until: float | None = None, at: float = 1000.0, **kw: object) -> Alert:
    fields: dict[str, object] = {
        "kind": "limit",
        "severity": "warn",
        "title": "t",
        "message": "m",
        "fix": "f",
        "profile": "max",
    }
    fields.update(kw)
    return Alert(key=key, at=at, until=until, **fields)  # type: ignore[arg-type]


# --- what fires ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utilization", "keys"),
    [
        (0.7999, []),
        (0.80, ["limit:acct:5h:80"]),
        (0.9499, ["limit:acct:5h:80"]),
        (0.95, ["limit:acct:5h:95"]),
        (1.3, ["limit:acct:5h:95"]),
    ],
)
def test_utilization_alerts_at_80_and_95_percent(utilization: float, keys: list[str]) -> None:
    now = 1_000_000.0
    found = limit_alerts("acct", ["max"], {"utilization_5h": utilization, "reset_5h": now + 3600}, now)
    assert [a.key for a in found] == keys
    for alert in found:
        assert alert.until == now + 3600  # once per window: settled until it resets
        assert alert.data["utilization"] == utilization


def test_a_jump_past_both_levels_fires_95_and_settles_80() -> None:
    now = 1_000_000.0
    (high,) = limit_alerts("acct", ["max"], {"utilization_7d": 0.97, "reset_7d": now + 86400}, now)
    assert high.key == "limit:acct:7d:95" and high.covers == ("limit:acct:7d:80",)
    assert high.severity == "fail" and "7-day" in high.message and "97%" in high.title


def test_a_window_without_a_reset_time_is_settled_for_its_length() -> None:
    (five,) = limit_alerts("acct", ["max"], {"utilization_5h": 0.9}, 100.0)
    assert five.until == 100.0 + 5 * 3600 and "no reset time reported" in five.message


def test_budget_alerts_warn_then_spent_and_spent_settles_warn() -> None:
    warn = budget_alert("api", "day", "warn", 0.8, 1.0, 80, 0.0, 86400.0, 10.0)
    spent = budget_alert("api", "day", "spent", 1.0, 1.0, 80, 0.0, 86400.0, 20.0)
    assert budget_alert("api", "day", "ok", 0.1, 1.0, 80, 0.0, 86400.0, 10.0) is None
    assert warn is not None and spent is not None
    assert warn.key == "budget:api:day:0:warn" and warn.until == 86400.0
    assert spent.key == "budget:api:day:0:spent" and spent.covers == ("budget:api:day:0:warn",)
    assert "$1.00 of its $1.00 daily budget" in spent.message and "ccgate budget set api --day" in spent.fix


# --- once -------------------------------------------------------------------------------------------


def test_an_alert_fires_once_until_its_window_ends(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    first = _alert("w", until=2000.0, at=1000.0)
    assert record([first], now=1000.0, path=path) == [first]
    assert record([_alert("w", until=2000.0, at=1500.0)], now=1500.0, path=path) == []
    assert record([_alert("w", until=2000.0, at=1999.0)], now=1999.0, path=path) == []
    again = _alert("w", until=9000.0, at=2000.0)
    assert record([again], now=2000.0, path=path) == [again]  # a new window: it may fire again
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_covered_levels_do_not_fire_later_in_the_same_window(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    high = _alert("x:95", until=2000.0, covers=("x:80",))
    assert record([high], now=1000.0, path=path) == [high]
    assert record([_alert("x:80", until=2000.0)], now=1100.0, path=path) == []


def test_an_alert_without_a_window_stays_settled_for_45_days(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    record([_alert("forever", until=None, at=0.0)], now=0.0, path=path)
    keep = alerts.KEEP_S
    assert record([_alert("forever", at=keep - 1)], now=keep - 1, path=path) == []
    assert len(record([_alert("forever", at=keep)], now=keep, path=path)) == 1


def test_current_alerts_are_those_whose_window_has_not_ended(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    record([_alert("a", until=2000.0, at=1000.0), _alert("b", until=None, at=1500.0)], now=1500.0, path=path)
    assert [a.key for a in current(1999.0, path)] == ["b", "a"]  # newest first
    assert [a.key for a in current(2000.0, path)] == ["b"]
    assert [a.key for a in current(1500.0 + alerts.CURRENT_S, path)] == []


# --- delivery -----------------------------------------------------------------------------------------


def _recorder(bin_dir: Path, name: str, out: Path) -> None:
    """A stand-in for a notifier: writes its arguments, one per line, to `out`."""
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {out}\n')
    script.chmod(0o755)


def test_alert_command_gets_the_alert_as_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    alert = _alert("k", until=2000.0, title="max: 5-hour limit 81%", message="it's $(not run) `here`")
    alerts.deliver(alert, Settings(alert_command=f"cat > {out}", desktop_notifications=False))
    got = json.loads(out.read_text())
    assert got == {"source": "ccgate", **alert.to_dict()}
    listed = tmp_path / "listed.json"
    copy = f"import sys; open({str(listed)!r}, 'w').write(sys.stdin.read())"
    alerts.deliver(alert, Settings(alert_command=[sys.executable, "-P", "-c", copy], desktop_notifications=False))
    assert json.loads(listed.read_text())["key"] == "k"


def test_a_failing_alert_command_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    alerts.deliver(_alert(), Settings(alert_command="echo nope >&2; exit 3", desktop_notifications=False))
    assert "alert_command exited 3: nope" in caplog.text


def test_the_desktop_notifier_gets_the_texts_as_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, out = tmp_path / "bin", tmp_path / "args"
    _recorder(bin_dir, "notify-send", out)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    alert = _alert(severity="fail", title="a 'quoted' $(title)", message="line; rm -rf ~")
    assert desktop_command(alert, "linux") == [
        "notify-send",
        "--app-name=ccgate",
        "--urgency=critical",
        "ccgate: a 'quoted' $(title)",
        "line; rm -rf ~",
    ]
    monkeypatch.setenv("CCGATE_DESKTOP_NOTIFY", "1")
    alerts.deliver(alert, Settings())
    assert out.read_text().splitlines()[-2:] == ["ccgate: a 'quoted' $(title)", "line; rm -rf ~"]
    out.unlink()
    alerts.deliver(alert, Settings(desktop_notifications=False))
    assert not out.exists()
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    assert desktop_command(alert, "linux") is None  # no desktop session to show it in


def test_macos_notifications_pass_the_texts_to_osascript_as_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _recorder(tmp_path, "osascript", tmp_path / "args")
    monkeypatch.setenv("PATH", str(tmp_path))
    argv = desktop_command(_alert(title='say "hi"', message="m"), "darwin")
    assert argv is not None and argv[0] == "osascript" and argv[-2:] == ['ccgate: say "hi"', "m"]
    assert '"hi"' not in argv[2]  # the script never holds the texts
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert desktop_command(_alert(), "darwin") is None


# --- acceptance: a real forwarder, alerts counted by alert_command ---------------------------------


def _configure(alert_file: Path, extra: str = "") -> None:
    config = paths.config_file()
    text = config.read_text()
    config.write_text(f"[settings]\nalert_command = \"cat >> '{alert_file}'\"\n\n" + text + extra)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(path: Path, predicate, timeout: float = 10.0) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = _lines(path)
        if predicate(lines):
            return lines
        time.sleep(0.02)
    raise AssertionError(f"alerts never matched: {_lines(path)}")


def _settle(gate: Gate, path: Path, n: int) -> list[dict[str, object]]:
    """Send the n-th sentinel: a 401 with a credential not seen before. Its alert comes after every
    alert fired before it (one worker thread delivers them in order), so once it is in the file,
    nothing else is on the way."""
    headers = {"authorization": f"Bearer sk-ant-oat01-sentinel-{n}", "x-fake-status": "401"}
    httpx.post(gate.profile_url("max") + "/v1/messages", json={"model": "m"}, headers=headers, timeout=10)
    return _wait_for(path, lambda lines: sum(a["kind"] == "unauthorized" for a in lines) == n)


def _utilization(gate: Gate, value: float) -> None:
    headers = {
        "authorization": f"Bearer {MAX}",
        "x-fake-ratelimit": "unified",
        "x-fake-5h-utilization": str(value),
    }
    body = {"model": "claude-sonnet-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    url = gate.profile_url("max") + "/v1/messages"
    assert httpx.post(url, json=body, headers=headers, timeout=10).status_code == 200


def test_utilization_past_80_then_95_alerts_each_once_and_a_restart_repeats_neither(ccgate, tmp_path: Path) -> None:
    sent = tmp_path / "alerts.jsonl"
    with FakeUpstream() as fake:
        add_profile("max", "max-oauth", secret=MAX, base_url=fake.url)
        _configure(sent)
        with Gate() as gate:
            for value in (0.5, 0.79, 0.81, 0.85, 0.96, 0.97):
                _utilization(gate, value)
            lines = _settle(gate, sent, 1)
        limits = [a for a in lines if a["kind"] == "limit"]
        assert [(a["data"]["window"], a["data"]["threshold"], a["data"]["utilization"]) for a in limits] == [  # type: ignore[index]
            ("5h", 0.8, 0.81),
            ("5h", 0.95, 0.96),
        ]
        assert all(a["until"] == 1893456000 and a["profile"] == "max" for a in limits)
        with Gate() as gate:
            _utilization(gate, 0.97)
            _utilization(gate, 0.99)
            lines = _settle(gate, sent, 2)
    assert [a["kind"] for a in lines].count("limit") == 2
    # Where else it shows: the status line and doctor (the dashboard: the budget test below).
    assert "⚠ " in ccgate("statusline", input="{}").stdout
    doctor = json.loads(ccgate("doctor", "--json", check=False).stdout)
    assert any(c["name"] == "alert max" and "5-hour window is 96% used" in c["detail"] for c in doctor)


def test_a_budget_alerts_at_its_warn_level_and_at_its_limit_once_each(ccgate, tmp_path: Path) -> None:
    with FakeUpstream() as fake:
        add_profile("max", "max-oauth", secret=MAX, base_url=fake.url)
        add_profile("api", "api-key", secret=API, base_url=fake.url)
        sent = tmp_path / "alerts.jsonl"
        _configure(sent, PRICES)
        ccgate("budget", "set", "api", "--day", "1", "--warn", "50")
        headers = {"x-api-key": API, "x-fake-usage": USAGE, "anthropic-version": "2023-06-01"}
        body = {"model": "test-model", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

        def spend(gate: Gate, logged: int) -> int:
            url = gate.profile_url("api") + "/v1/messages"
            status = httpx.post(url, json=body, headers=headers, timeout=10).status_code
            gate.wait_logged(logged)  # counted before the next one asks
            return status

        with Gate() as gate:
            # $0.30, $0.60 (warn: 50%), $0.90, $1.20 (spent), then refused.
            assert [spend(gate, n) for n in range(1, 6)] == [200, 200, 200, 200, 429]
            lines = _settle(gate, sent, 1)
            with urllib.request.urlopen(gate.url + "/ccgate/api/limits", timeout=5) as resp:
                shown = json.loads(resp.read())["alerts"]
        budget = [(a["kind"], a["data"]["spent_usd"]) for a in lines if str(a["kind"]).startswith("budget")]  # type: ignore[index]
        assert budget == [("budget_warn", 0.6), ("budget_spent", 1.2)]
        assert {a["kind"] for a in shown} >= {"budget_spent", "unauthorized"}
        with Gate() as gate:
            # The new forwarder reads $1.20 spent at start: nothing it already said is said again.
            assert spend(gate, 1) == 429
            lines = _settle(gate, sent, 2)
        assert [a["kind"] for a in lines].count("budget_spent") == 1
        assert [a["kind"] for a in lines].count("budget_warn") == 1
