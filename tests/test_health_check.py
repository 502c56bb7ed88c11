"""Credential health: `ccgate profile check` and how long each secret lasts."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from ccgate import paths
from ccgate.config import Config
from ccgate.health_check import (
    DAY_S,
    check_profiles,
    login_state,
    secret_alerts,
    setup_token_state,
)
from ccgate.profiles import Profile
from tests.fakes.upstream import UNIFIED_HEADERS, FakeUpstream, add_profile, free_port

MAX = "sk-ant-oat01-check-" + "m" * 40
API = "sk-ant-api03-check-" + "a" * 40
UP = "https://up.example"
API_FAMILY = {"anthropic-ratelimit-requests-limit": "4000", "anthropic-ratelimit-tokens-remaining": "1"}


class Store:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    def get(self, name: str) -> str | None:
        return self.secrets.get(name)


def _config(**profiles: dict[str, Any]) -> Config:
    return Config(Path("/x/config.toml"), {"profiles": {k: {"base_url": UP, **v} for k, v in profiles.items()}})


def _check(config: Config, **secrets: str) -> list[Any]:
    return check_profiles(config, [], Store(secrets))


COUNT = f"{UP}/v1/messages/count_tokens"


def test_a_working_key_and_what_the_check_sends() -> None:
    with aioresponses() as m:
        m.post(COUNT, status=200, payload={"input_tokens": 3}, headers=API_FAMILY)
        (result,) = _check(_config(api={"kind": "api-key", "headers": ["x-team: blue"]}), api=API)
        (call,) = m.requests[("POST", aiohttp.client.URL(COUNT))]
    assert (result.result, result.status, result.billing, result.failed) == ("works", 200, "api", False)
    headers = call.kwargs["headers"]
    assert headers["x-api-key"] == API and headers["anthropic-version"] == "2023-06-01"
    assert headers["x-team"] == "blue"  # the profile's own headers, as Claude Code sends them
    assert json.loads(call.kwargs["data"])["model"] == "claude-haiku-4-5"


def test_an_oauth_token_goes_as_bearer_with_the_oauth_beta() -> None:
    with aioresponses() as m:
        m.post(COUNT, status=200, payload={"input_tokens": 3}, headers=UNIFIED_HEADERS)
        (result,) = _check(_config(max={"kind": "max-oauth"}), max=MAX)
        (call,) = m.requests[("POST", aiohttp.client.URL(COUNT))]
    assert result.result == "works" and result.billing == "subscription"
    assert call.kwargs["headers"]["Authorization"] == f"Bearer {MAX}"
    assert call.kwargs["headers"]["anthropic-beta"] == "oauth-2025-04-20"


@pytest.mark.parametrize(
    ("kind", "secret", "headers", "why"),
    [
        ("max-oauth", MAX, API_FAMILY, "billed as api, not subscription"),
        ("api-key", API, UNIFIED_HEADERS, "billed as subscription, not api"),
    ],
)
def test_the_other_billing_route_is_a_failure(kind: str, secret: str, headers: dict[str, str], why: str) -> None:
    with aioresponses() as m:
        m.post(COUNT, status=200, payload={}, headers=headers)
        (result,) = _check(_config(p={"kind": kind}), p=secret)
    assert result.result == "wrong_route" and result.failed and why in result.detail


@pytest.mark.parametrize(
    ("status", "result", "fix"),
    [
        (401, "rejected", "claude setup-token, then ccgate profile edit p --secret"),
        (403, "rejected", "claude setup-token, then ccgate profile edit p --secret"),
        (500, "error", "see `ccgate doctor --online`"),
        (429, "works", ""),
    ],
)
def test_statuses(status: int, result: str, fix: str) -> None:
    with aioresponses() as m:
        m.post(COUNT, status=status, payload={"type": "error"})
        (found,) = _check(_config(p={"kind": "max-oauth"}), p=MAX)
    assert (found.result, found.fix, found.status) == (result, fix, status)


def test_an_upstream_without_count_tokens_is_asked_for_its_models() -> None:
    with aioresponses() as m:
        m.post(COUNT, status=404)
        m.get(f"{UP}/v1/models", status=200, payload={"data": []})
        (result,) = _check(_config(lite={"kind": "litellm-key"}), lite="sk-litellm")
        (call,) = m.requests[("GET", aiohttp.client.URL(f"{UP}/v1/models"))]
    assert result.result == "works" and result.url == f"{UP}/v1/models"
    assert call.kwargs["headers"]["Authorization"] == "Bearer sk-litellm"


def test_no_answer_is_unreachable_and_a_missing_secret_is_said_without_a_request() -> None:
    with aioresponses() as m:
        m.post(COUNT, exception=aiohttp.ClientConnectionError("refused"))
        unreachable, missing = _check(_config(a={"kind": "api-key"}, b={"kind": "api-key"}), a=API)
        assert len(m.requests) == 1
    assert unreachable.result == "unreachable" and "did not answer (ClientConnectionError)" in unreachable.detail
    assert missing.result == "rejected" and "has no stored secret" in missing.detail


def _login(tmp_path: Path, expires: float) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    token = {"accessToken": "sk-ant-oat01-login-" + "x" * 30, "refreshToken": "sk-ant-ort01-r", "expiresAt": expires}
    (tmp_path / ".credentials.json").write_text(json.dumps({"claudeAiOauth": token}))
    return {"kind": "claude-login", "config_dir": str(tmp_path)}


def test_a_claude_login_is_checked_with_its_stored_token(tmp_path: Path) -> None:
    with aioresponses() as m:
        m.post(COUNT, status=200, payload={}, headers=UNIFIED_HEADERS)
        fresh = _config(home=_login(tmp_path / "a", (time.time() + 3600) * 1000))
        (result,) = _check(fresh)
        (call,) = m.requests[("POST", aiohttp.client.URL(COUNT))]
    assert result.result == "works"
    assert call.kwargs["headers"]["Authorization"] == "Bearer sk-ant-oat01-login-" + "x" * 30
    (stale,) = _check(_config(home=_login(tmp_path / "b", (time.time() - 60) * 1000)))
    assert stale.result == "skipped" and not stale.failed and "refreshes it" in stale.detail


# --- the command against a real upstream -------------------------------------------------------------


def test_profile_check_gives_three_answers_and_exit_codes(ccgate) -> None:
    with FakeUpstream() as fake:
        add_profile("good", "api-key", secret=API, base_url=fake.url)
        add_profile("bad", "api-key", secret=API, base_url=fake.url, header="x-fake-status: 401")
        add_profile("down", "api-key", secret=API, base_url=f"http://127.0.0.1:{free_port()}")
        ok = ccgate("profile", "check", "good", check=False)
        rejected = ccgate("profile", "check", "bad", check=False)
        down = ccgate("profile", "check", "down", check=False)
        every = ccgate("profile", "check", "--json", check=False)
        sent = [r for r in fake.received if r.path == "/v1/messages/count_tokens"]
    assert ok.returncode == 0 and ok.stdout.startswith("ok    good (api-key): works: 200 from ")
    assert rejected.returncode == 1 and rejected.stdout.startswith("FAIL  bad (api-key): rejected: 401 from ")
    assert "fix: create a key in the Anthropic Console, then ccgate profile edit bad --secret" in rejected.stdout
    assert down.returncode == 1 and down.stdout.startswith("FAIL  down (api-key): unreachable: http://127.0.0.1:")
    assert every.returncode == 1
    assert {r["profile"]: r["result"] for r in json.loads(every.stdout)} == {
        "bad": "rejected",
        "down": "unreachable",
        "good": "works",
    }
    assert len(sent) == 4 and {r.headers["x-api-key"] for r in sent} == {API}
    assert API not in ok.stdout + rejected.stdout + down.stdout + every.stdout
    unknown = ccgate("profile", "check", "goood", check=False)
    assert unknown.returncode == 1 and "did you mean 'good'?" in unknown.stderr


# --- lifetimes ---------------------------------------------------------------------------------------------


def _stored(days_ago: float, now: float) -> Profile:
    stored = datetime.fromtimestamp(now - days_ago * DAY_S, UTC)
    return Profile("max", "max-oauth", secret_stored=stored)


@pytest.mark.parametrize(
    ("age_s", "state"),
    [
        (335 * DAY_S - 1, "ok"),
        (335 * DAY_S, "near"),
        (365 * DAY_S - 1, "near"),
        (365 * DAY_S, "expired"),
    ],
)
def test_a_setup_token_nears_its_year_30_days_before_it(age_s: float, state: str) -> None:
    now = 2_000_000_000.0
    assert setup_token_state(_stored(age_s / DAY_S, now), now) == state


def test_only_tokens_whose_storage_time_is_known_have_an_age() -> None:
    assert setup_token_state(Profile("max", "max-oauth"), 0.0) is None
    assert setup_token_state(Profile("api", "api-key", secret_stored=datetime.now(UTC)), 0.0) is None


def test_a_claude_logins_expiry_is_read_from_its_credentials_file(tmp_path: Path) -> None:
    now = time.time()
    profile = Profile("home", "claude-login", config_dir=str(tmp_path))
    assert login_state(profile, now) is None
    _login(tmp_path, (now + DAY_S + 60) * 1000)
    assert login_state(profile, now) == "ok"
    _login(tmp_path, (now + DAY_S - 60) * 1000)
    assert login_state(profile, now) == "near"
    _login(tmp_path, (now - 1) * 1000)
    assert login_state(profile, now) == "expired"


def test_storing_a_secret_keeps_when_and_profile_list_shows_its_age(ccgate) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    add_profile("max", "max-oauth", secret=MAX)
    listed = json.loads(ccgate("profile", "list", "--json").stdout)[0]
    stored = datetime.fromisoformat(listed["secret_stored_at"])
    assert before <= stored <= datetime.now(UTC)
    assert 0 <= listed["secret_age_days"] < 1
    assert re.search(r"max\s+max-oauth\s+-\s+✓ today", ccgate("profile", "list").stdout)
    assert MAX not in paths.config_file().read_text()
    config = paths.config_file()
    old = (datetime.now(UTC) - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config.write_text(re.sub(r"secret_stored = \S+", f"secret_stored = {old}", config.read_text()))
    assert json.loads(ccgate("profile", "list", "--json").stdout)[0]["secret_age_days"] == pytest.approx(100, abs=0.01)
    assert "✓ 3 mo" in ccgate("profile", "list").stdout
    ccgate("profile", "rename", "max", "sub")
    assert json.loads(ccgate("profile", "list", "--json").stdout)[0]["secret_age_days"] == pytest.approx(100, abs=0.01)
    ccgate("profile", "edit", "sub", "--secret-stdin", input=MAX + "2")
    assert json.loads(ccgate("profile", "list", "--json").stdout)[0]["secret_age_days"] < 1


def _age_token(days: float) -> None:
    config = paths.config_file()
    when = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config.write_text(re.sub(r"secret_stored = \S+", f"secret_stored = {when}", config.read_text()))


def _doctor(ccgate) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {c["name"]: c for c in json.loads(ccgate("doctor", "--json", check=False).stdout)}


def test_doctor_warns_before_a_setup_tokens_year_and_fails_after_it(ccgate, tmp_path: Path) -> None:
    add_profile("max", "max-oauth", secret=MAX)
    assert _doctor(ccgate)["setup-token max"]["status"] == "ok"
    _age_token(340)
    check = _doctor(ccgate)["setup-token max"]
    assert check["status"] == "warn" and "token stored 340 days ago" in check["detail"]
    assert check["fix"] == "claude setup-token, then ccgate profile edit max --secret"
    _age_token(366)
    assert _doctor(ccgate)["setup-token max"]["status"] == "fail"


def test_doctor_shows_a_claude_logins_expiry_and_never_its_token(ccgate, tmp_path: Path) -> None:
    login = tmp_path / "login"
    add_profile("home", "claude-login", config_dir=str(login))
    _login(login, (time.time() - 60) * 1000)
    proc = ccgate("doctor", check=False)
    assert "warn  login home: the stored login expired " in proc.stdout
    assert "sk-ant-oat01-login" not in proc.stdout + proc.stderr
    _login(login, (time.time() + 7 * DAY_S) * 1000)
    assert _doctor(ccgate)["login home"]["status"] == "ok"


def test_a_setup_token_near_its_year_alerts_until_then_and_an_expired_one_for_good() -> None:
    now = 2_000_000_000.0
    stored = datetime.fromtimestamp(now - 340 * DAY_S, UTC)
    table = {"kind": "max-oauth", "secret_stored": stored}
    (near,) = secret_alerts(Config(Path("c"), {"profiles": {"max": table}}), now)
    assert near.kind == "secret_expiry" and near.severity == "warn"
    assert near.until == stored.timestamp() + 365 * DAY_S
    (gone,) = secret_alerts(Config(Path("c"), {"profiles": {"max": table}}), now + 30 * DAY_S)
    assert gone.severity == "fail" and gone.until is None and gone.key != near.key
