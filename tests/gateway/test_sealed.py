"""Sealed credentials end to end: `use --sealed` / `exec --sealed` handles through a real `ccgate serve`."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.upstream import FakeUpstream, Gate, add_profile
from tests.gateway.conftest import API_SECRET, LITELLM_SECRET, MAX_SECRET

BODY = {"model": "claude-sonnet-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
SECRETS = (MAX_SECRET, API_SECRET, LITELLM_SECRET)


def sealed_env(ccgate, name: str) -> dict[str, str]:
    out = ccgate("use", name, "--sealed", "--shell", "bash").stdout
    for secret in SECRETS:
        assert secret not in out
    return dict(re.findall(r"^export (\w+)='([^']*)'$", out, re.M))


def claude_code_headers(env: dict[str, str]) -> dict[str, str]:
    """The headers Claude Code builds from these variables (REFERENCE.md)."""
    headers = {}
    if token := env.get("CLAUDE_CODE_OAUTH_TOKEN"):
        headers["authorization"] = f"Bearer {token}"
        headers["anthropic-beta"] = "claude-code-20250219,oauth-2025-04-20"
    if key := env.get("ANTHROPIC_API_KEY"):
        headers["x-api-key"] = key
    if token := env.get("ANTHROPIC_AUTH_TOKEN"):
        headers["authorization"] = f"Bearer {token}"
    if custom := env.get("ANTHROPIC_CUSTOM_HEADERS"):
        name, _, value = custom.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


@pytest.fixture
def rider(profiles: FakeUpstream) -> FakeUpstream:
    add_profile("ride", "litellm-key", secret=LITELLM_SECRET, base_url=profiles.url, via_max="max")
    return profiles


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("max", {"authorization": f"Bearer {MAX_SECRET}", "x-api-key": None}),
        ("key", {"x-api-key": API_SECRET, "authorization": None}),
        ("lite", {"authorization": f"Bearer {LITELLM_SECRET}", "x-api-key": None}),
        ("ride", {"authorization": f"Bearer {MAX_SECRET}", "x-litellm-api-key": f"Bearer {LITELLM_SECRET}"}),
    ],
)
def test_handle_becomes_the_secret_upstream(ccgate, rider: FakeUpstream, name: str, expected: dict) -> None:
    env = sealed_env(ccgate, name)
    with Gate() as gate:
        r = httpx.post(gate.profile_url(name) + "/v1/messages", json=BODY, headers=claude_code_headers(env))
        assert r.status_code == 200, r.text
        got = rider.received[-1].headers
        for header, value in expected.items():
            assert got.get(header) == value
        if name in ("max", "ride"):
            assert "oauth-2025-04-20" in got["anthropic-beta"].split(",")
        gate.wait_logged(1)
        _, err = gate.stop()
    handle = next(v for v in env.values() if "ccgate-sealed-" in v)
    for secret in (*SECRETS, handle):
        assert secret not in err
    db = Path(os.environ["CCGATE_DATA_DIR"]) / "usage.db"
    assert handle.encode() not in db.read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in db.read_bytes()


def _refused(gate: Gate, fake: FakeUpstream, profile: str, headers: dict[str, str]) -> httpx.Response:
    before = len(fake.received)
    r = httpx.post(gate.profile_url(profile) + "/v1/messages", json=BODY, headers=headers)
    assert len(fake.received) == before, "nothing may reach the upstream"
    return r


def test_revoked_expired_unknown_and_foreign_handles_get_401(ccgate, profiles: FakeUpstream) -> None:
    with Gate() as gate:
        revoked = sealed_env(ccgate, "max")
        ccgate("sealed", "revoke", revoked["CCGATE_SEALED"])
        expired = sealed_env(ccgate, "max")
        with sqlite3.connect(Path(os.environ["CCGATE_STATE_DIR"]) / "sealed.db") as conn:
            conn.execute("UPDATE handles SET created = created - 400 * 86400 WHERE id = ?", (expired["CCGATE_SEALED"],))
        good = sealed_env(ccgate, "max")
        unknown = good["CLAUDE_CODE_OAUTH_TOKEN"][:-6] + "AAAAAA"
        cases = {
            "revoked": ("max", claude_code_headers(revoked)),
            "expired": ("max", claude_code_headers(expired)),
            "unknown": ("max", {"authorization": f"Bearer {unknown}"}),
            "wrong profile": ("key", claude_code_headers(good)),
            "default route": ("", claude_code_headers(good)),
        }
        for label, (profile, headers) in cases.items():
            url_profile = profile or None
            if url_profile is None:
                before = len(profiles.received)
                r = httpx.post(gate.url + "/v1/messages", json=BODY, headers=headers)
                assert len(profiles.received) == before
            else:
                r = _refused(gate, profiles, url_profile, headers)
            assert r.status_code == 401, label
            error = r.json()
            assert error["type"] == "error" and error["error"]["type"] == "authentication_error", label
            assert "ccgate-sealed-" not in r.text
        # The good handle still works, and the plain credential cases are untouched.
        ok = httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers=claude_code_headers(good))
        assert ok.status_code == 200
        assert profiles.received[-1].headers["authorization"] == f"Bearer {MAX_SECRET}"
        own = httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers={"x-api-key": "sk-ant-api03-own"})
        assert own.status_code == 200 and profiles.received[-1].headers["x-api-key"] == "sk-ant-api03-own"
        assert "authorization" not in profiles.received[-1].headers


def test_locked_keyring_gives_a_clear_error_not_the_handle(ccgate, profiles: FakeUpstream) -> None:
    env = sealed_env(ccgate, "max")
    with Gate(env={"CCGATE_TEST_KEYRING_LOCKED": "1"}) as gate:
        r = _refused(gate, profiles, "max", claude_code_headers(env))
        _, err = gate.stop()
    assert r.status_code == 503
    message = r.json()["error"]["message"]
    assert "'max'" in message and "keyring" in message.lower()
    assert env["CLAUDE_CODE_OAUTH_TOKEN"] not in r.text + err
    assert "Traceback" not in err


def test_exec_sealed_child_environment_holds_no_secret(ccgate, profiles: FakeUpstream) -> None:
    script = 'tr "\\0" "\\n" < /proc/$$/environ'
    for name in ("max", "key", "lite"):
        out = ccgate("exec", name, "--sealed", "--", "sh", "-c", script).stdout
        assert "ccgate-sealed-" in out
        for secret in SECRETS:
            assert secret not in out
    # exec's handles were revoked when their commands ended.
    assert ccgate("sealed", "list", "--json").stdout.strip() in ("[]", "")


def test_no_handle_is_stored_in_plaintext(ccgate, profiles: FakeUpstream) -> None:
    env = sealed_env(ccgate, "max")
    handle = env["CLAUDE_CODE_OAUTH_TOKEN"].encode()
    for var in ("CCGATE_STATE_DIR", "CCGATE_CONFIG_DIR", "CCGATE_DATA_DIR"):
        for path in Path(os.environ[var]).rglob("*"):
            if path.is_file():
                assert handle not in path.read_bytes(), path


def _set_ttl_days(days: int) -> None:
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    text = re.sub(r"(?m)^sealed_ttl_days = .*\n", "", config.read_text())
    config.write_text(text.replace("[settings]\n", f"[settings]\nsealed_ttl_days = {days}\n", 1))


def test_raising_sealed_ttl_days_does_not_revive_an_expired_handle(ccgate, profiles: FakeUpstream) -> None:
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    if "[settings]" not in config.read_text():
        config.write_text("[settings]\n\n" + config.read_text())
    _set_ttl_days(1)
    env = sealed_env(ccgate, "max")
    with sqlite3.connect(Path(os.environ["CCGATE_STATE_DIR"]) / "sealed.db") as conn:
        # Minted a day and a half ago: past its one day, not yet pruned (that takes a day's grace more).
        conn.execute(
            "UPDATE handles SET created = created - 1.5 * 86400, expires = expires - 1.5 * 86400 WHERE id = ?",
            (env["CCGATE_SEALED"],),
        )
    with Gate() as gate:
        assert _refused(gate, profiles, "max", claude_code_headers(env)).status_code == 401
    _set_ttl_days(30)
    with Gate() as gate:
        r = _refused(gate, profiles, "max", claude_code_headers(env))
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
        fresh = sealed_env(ccgate, "max")  # a handle minted now gets the new 30 days
        ok = httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers=claude_code_headers(fresh))
        assert ok.status_code == 200


def _ok(gate: Gate, headers: dict[str, str]) -> None:
    r = httpx.post(gate.profile_url("max") + "/v1/messages", json=BODY, headers=headers)
    assert r.status_code == 200, r.text


def test_a_handle_that_worked_is_refused_at_once_after_a_revoke_or_an_edit(ccgate, profiles: FakeUpstream) -> None:
    """Handles found good are remembered between requests; any write to sealed.db ends that."""
    revoked, edited = sealed_env(ccgate, "max"), sealed_env(ccgate, "max")
    with Gate() as gate:
        for env in (revoked, edited):
            for _ in range(3):
                _ok(gate, claude_code_headers(env))
        ccgate("sealed", "revoke", revoked["CCGATE_SEALED"])
        r = _refused(gate, profiles, "max", claude_code_headers(revoked))
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
        _ok(gate, claude_code_headers(edited))
        with sqlite3.connect(Path(os.environ["CCGATE_STATE_DIR"]) / "sealed.db") as conn:
            conn.execute("UPDATE handles SET expires = 1 WHERE id = ?", (edited["CCGATE_SEALED"],))
        r = _refused(gate, profiles, "max", claude_code_headers(edited))
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_a_handle_that_worked_is_refused_once_its_deadline_passes(ccgate, profiles: FakeUpstream) -> None:
    """No write happens when a deadline passes: the remembered verdict carries the deadline."""
    env = sealed_env(ccgate, "max")
    with Gate() as gate:
        _ok(gate, claude_code_headers(env))
        with sqlite3.connect(Path(os.environ["CCGATE_STATE_DIR"]) / "sealed.db") as conn:
            deadline = time.time() + 2.0
            conn.execute("UPDATE handles SET expires = ? WHERE id = ?", (deadline, env["CCGATE_SEALED"]))
        _ok(gate, claude_code_headers(env))  # read again after the write, and remembered
        _ok(gate, claude_code_headers(env))
        while time.time() <= deadline:  # the deadline itself is what is tested: wait for the clock to pass it
            time.sleep(0.05)
        r = _refused(gate, profiles, "max", claude_code_headers(env))
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
