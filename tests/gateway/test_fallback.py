"""Fallback: a used-up subscription's requests answered by its fallback profile, with its own credential."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator

import httpx
import pytest
from multidict import CIMultiDict
from yarl import URL

from ccgate import paths
from ccgate.gateway.fallback import FallbackState, exhausted_until, fallback_decision
from ccgate.gateway.proxy import upstream_headers
from ccgate.profiles import Credentials, Profile
from tests.fakes.upstream import FakeUpstream, Gate, add_profile
from tests.gateway.conftest import API_SECRET, MAX_SECRET

CLIENT_TOKEN = "Bearer " + MAX_SECRET
OAUTH_BETAS = "claude-code-20250219,oauth-2025-04-20,extended-cache-ttl-2025-04-11"
BODY = {"model": "claude-sonnet-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "stream": True}


# --- the decisions ------------------------------------------------------------------------------------


def test_only_a_429_with_the_unified_status_rejected_means_used_up() -> None:
    now = 1000.0
    rejected = {"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": "5000"}
    assert exhausted_until(429, rejected, now) == 5000.0
    assert exhausted_until(429, {k.upper(): v for k, v in rejected.items()}, now) == 5000.0
    assert exhausted_until(200, rejected, now) is None
    assert exhausted_until(529, rejected, now) is None
    assert exhausted_until(429, {"anthropic-ratelimit-unified-status": "allowed_warning"}, now) is None
    assert exhausted_until(429, {"retry-after": "7"}, now) is None  # an API key's rate limit: no fallback
    no_reset = {"anthropic-ratelimit-unified-status": "rejected", "retry-after": "7"}
    assert exhausted_until(429, no_reset, now) == 1007.0
    past = {"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": "999"}
    assert exhausted_until(429, past, now) == 1300.0  # DEFAULT_HOLD_S


def test_a_diversion_lasts_until_the_reset_and_not_a_second_longer() -> None:
    state = FallbackState()
    max_ = Profile("max", "max-oauth", fallback="api")
    state.exhausted("max", 5000.0)
    assert state.diverted(max_, 4999.0) == "api"
    assert state.diverted(max_, 5000.0) is None
    assert state.diverted(max_, 4999.0) is None  # the reset passed: the subscription is asked again
    state.exhausted("max", 5000.0)
    assert state.diverted(Profile("max", "max-oauth"), 10.0) is None  # the setting was removed


def test_the_fallback_gets_its_own_credential_and_none_of_the_clients() -> None:
    incoming = CIMultiDict(
        {
            "Authorization": CLIENT_TOKEN,
            "anthropic-beta": OAUTH_BETAS,
            "x-litellm-api-key": "Bearer sk-litellm-client",
            "anthropic-version": "2023-06-01",
        }
    )
    api = Profile("api", "api-key", base_url="https://api.example")
    decision = fallback_decision(api, Credentials(secret=API_SECRET), incoming)
    sent = upstream_headers(incoming, decision, URL("https://api.example"))
    assert {k.lower(): v for k, v in sent.items()} == {
        "x-api-key": API_SECRET,
        "anthropic-beta": "claude-code-20250219,extended-cache-ttl-2025-04-11",
        "anthropic-version": "2023-06-01",
        "host": "api.example",
    }
    assert decision.kind == "injected"
    other = Profile("max2", "max-oauth")
    decision = fallback_decision(other, Credentials(secret="sk-ant-oat01-second"), incoming)
    sent = upstream_headers(incoming, decision, URL("https://api.example"))
    assert sent["Authorization"] == "Bearer sk-ant-oat01-second"
    assert sent["anthropic-beta"] == OAUTH_BETAS
    assert "x-api-key" not in sent and "x-litellm-api-key" not in sent


# --- a real forwarder ---------------------------------------------------------------------------------


@pytest.fixture
def two() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream(label="max:") as sub, FakeUpstream(label="api:") as api:
        add_profile("max", "max-oauth", secret=MAX_SECRET, base_url=sub.url)
        add_profile("api", "api-key", secret=API_SECRET, base_url=api.url)
        yield sub, api


def _ask(gate: Gate, **headers: str) -> httpx.Response:
    sent = {"authorization": CLIENT_TOKEN, "anthropic-beta": OAUTH_BETAS, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers=sent, timeout=10)


def _messages(fake: FakeUpstream) -> list[httpx.Headers]:
    return [httpx.Headers(list(r.headers.items())) for r in fake.received if r.path.startswith("/v1/messages")]


def test_a_used_up_subscription_is_answered_by_the_fallback_until_its_reset(
    ccgate, two: tuple[FakeUpstream, FakeUpstream]
) -> None:
    sub, api = two
    ccgate("profile", "edit", "max", "--fallback", "api")
    with Gate() as gate:
        sub.reject_until = float(math.ceil(time.time()) + 3)  # whole seconds, as the reset header says it
        answer = _ask(gate)
        assert answer.status_code == 200
        assert "api:chunk0" in answer.text and "rejected" not in answer.text
        assert "anthropic-ratelimit-unified-status" not in answer.headers  # no byte of the refusal
        assert len(_messages(sub)) == 1
        again = _ask(gate)  # straight to the fallback while the window is used up
        assert again.status_code == 200 and "api:chunk0" in again.text
        assert len(_messages(sub)) == 1
        for headers in _messages(api):
            assert headers["x-api-key"] == API_SECRET
            assert "authorization" not in headers
            assert "oauth-2025-04-20" not in headers["anthropic-beta"]
        while time.time() < sub.reject_until:  # the window's reset
            time.sleep(0.05)
        back = _ask(gate)
        assert back.status_code == 200 and "max:chunk0" in back.text
        assert _messages(sub)[-1]["authorization"] == CLIENT_TOKEN
        gate.wait_logged(4)
    log = json.loads(ccgate("log", "--json").stdout)
    rows = sorted((r for r in log if r["endpoint"] == "messages"), key=lambda r: r["ts"])
    assert [(r["profile"], r["status"], r["credential_kind"]) for r in rows] == [
        ("max", 429, "oauth"),  # the refusal, logged
        ("api", 200, "injected"),  # the fallback's usage, on its own profile
        ("api", 200, "injected"),
        ("max", 200, "oauth"),
    ]
    assert rows[1]["input_tokens"] == 12 and rows[0]["input_tokens"] == 0
    fired = [
        a for a in json.loads((paths.state_dir() / "alerts.json").read_text())["recent"] if a["kind"] == "fallback"
    ]
    assert len(fired) == 1 and fired[0]["data"]["fallback"] == "api"


def test_without_the_setting_the_refusal_passes_through_unchanged(two: tuple[FakeUpstream, FakeUpstream]) -> None:
    sub, api = two
    sub.reject_until = time.time() + 60
    with Gate() as gate:
        answer = _ask(gate)
    assert answer.status_code == 429
    assert answer.headers["anthropic-ratelimit-unified-status"] == "rejected"
    assert answer.json()["error"]["message"] == "fake upstream says 429"
    assert _messages(api) == []


def test_the_fallbacks_budget_applies(ccgate, two: tuple[FakeUpstream, FakeUpstream]) -> None:
    sub, api = two
    ccgate("profile", "edit", "max", "--fallback", "api")
    config = paths.config_file()
    config.write_text(config.read_text() + '\n[prices."claude-sonnet-5"]\ninput_mtok = 2\noutput_mtok = 10\n')
    ccgate("budget", "set", "api", "--day", "0.0001")
    sub.reject_until = time.time() + 60
    with Gate() as gate:
        first = _ask(gate)  # the fallback answers; what it cost is over the budget
        assert first.status_code == 200 and "api:chunk0" in first.text
        gate.wait_logged(2)
        refused = _ask(gate)
    assert refused.status_code == 429 and refused.headers["x-should-retry"] == "false"
    assert "profile 'api' has used" in refused.json()["error"]["message"]
    assert len(_messages(api)) == 1 and len(_messages(sub)) == 1


def test_a_fallbacks_own_refusal_reaches_the_client(ccgate, two: tuple[FakeUpstream, FakeUpstream]) -> None:
    sub, api = two
    ccgate("profile", "edit", "max", "--fallback", "api")
    sub.reject_until = api.reject_until = time.time() + 60
    with Gate() as gate:
        answer = _ask(gate)
    assert answer.status_code == 429 and answer.json()["error"]["message"] == "fake upstream says 429"
    assert len(_messages(sub)) == 1 and len(_messages(api)) == 1  # one hop, no loop


def test_fallback_settings_are_checked(ccgate, two: tuple[FakeUpstream, FakeUpstream]) -> None:
    add_profile("home", "claude-login", own_config_dir=True)
    cases = [
        (("profile", "edit", "api", "--fallback", "max"), "--fallback applies to subscription profiles"),
        (("profile", "edit", "max", "--fallback", "max"), "a profile cannot fall back to itself"),
        (("profile", "edit", "max", "--fallback", "nope"), "no profile named 'nope'"),
        (("profile", "edit", "max", "--fallback", "home"), "a claude-login profile has no secret"),
    ]
    for args, message in cases:
        proc = ccgate(*args, check=False)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    ccgate("profile", "edit", "max", "--fallback", "api")
    proc = ccgate("profile", "rm", "api", check=False)
    assert proc.returncode == 1 and "max falls back to 'api' (--fallback)" in proc.stderr
    ccgate("profile", "rename", "api", "key")
    assert json.loads(ccgate("profile", "show", "max", "--json").stdout)["fallback"] == "key"
    ccgate("profile", "edit", "max", "--fallback", "")
    assert json.loads(ccgate("profile", "show", "max", "--json").stdout)["fallback"] is None


def test_a_request_over_a_mib_is_sent_again_whole_to_the_fallback(
    ccgate, two: tuple[FakeUpstream, FakeUpstream]
) -> None:
    # Above 1 MiB the forwarder streams a body upstream as it arrives; one that a fallback may have
    # to send again is kept instead, so both upstreams receive every byte.
    sub, api = two
    ccgate("profile", "edit", "max", "--fallback", "api")
    big = {**BODY, "messages": [{"role": "user", "content": "x" * (1024 * 1024 + 1)}]}
    sent = json.dumps(big).encode()
    sub.reject_until = time.time() + 60
    with Gate() as gate:
        answer = httpx.post(
            gate.profile_url("max") + "/v1/messages",
            content=sent,
            headers={
                "authorization": CLIENT_TOKEN,
                "anthropic-version": "2023-06-01",
                "content-type": "application/json",
            },
            timeout=10,
        )
    assert answer.status_code == 200 and "api:chunk0" in answer.text
    assert [r.body for r in sub.received] == [sent]
    assert [r.body for r in api.received] == [sent]
