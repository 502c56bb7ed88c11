"""`ccgate doctor`: one checklist of what could make Claude Code use the wrong credential, or
make ccgate's numbers wrong, each with the fix. Read-only: it changes nothing it inspects.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from ccgate.config import Config, load_config
from ccgate.errors import CcgateError
from ccgate.profiles import CREDENTIAL_VARS, MANAGED_VARS, PROFILE_VAR, Profile, all_profiles, conflicts
from ccgate.sealed import looks_sealed
from ccgate.secrets import KeyringLockedError, SecretStore, open_store, unlock_advice

Status = Literal["ok", "warn", "fail"]
RECENT_S = 7 * 86400
SCRUB_VAR = "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB"
CHECK_NAMES = {"api_billed": "billing", "unauthorized": "token"}
# Alerts doctor lists: the usage-log alarms already cover 401s and API billing, and the secret
# checks the tokens' and logins' ends.
DOCTOR_ALERTS = frozenset({"budget_warn", "budget_spent", "limit", "fallback"})


@dataclass(slots=True, frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def run(env: Mapping[str, str], cwd: Path, *, online: bool = False) -> list[Check]:
    try:
        config = load_config()
    except CcgateError as exc:
        return [Check("config", "fail", exc.message, "fix the file by hand; ccgate never overwrites it")]
    checks = [Check("config", "ok", f"{config.path} ({len(config.profiles)} profiles)")]
    store, store_check = _secret_store(config)
    checks.append(store_check)
    try:
        profiles = all_profiles(config)
    except CcgateError as exc:
        return [*checks, Check("profiles", "fail", exc.message, f"fix {config.path}")]
    if store is not None:
        checks.extend(_secrets(profiles, store))
    checks.extend(_logins(profiles))
    checks.extend(_secret_lifetimes(profiles, time.time()))
    checks.extend(_injection(profiles))
    checks.extend(_environment(env))
    checks.extend(_claude_settings(env, cwd))
    checks.append(_forwarder(config))
    checks.extend(_usage_log(config))
    checks.extend(_alerts(time.time()))
    if online:
        checks.extend(_online(profiles))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


def _secret_store(config: Config) -> tuple[SecretStore | None, Check]:
    store = None
    try:
        store = open_store(config.settings)
        store.get("ccgate-doctor-probe")
    except KeyringLockedError as exc:
        backend = store.description if store is not None else ""
        return None, Check("secret store", "fail", exc.message, unlock_advice(backend))
    except CcgateError as exc:
        return None, Check("secret store", "fail", exc.message)
    if config.settings.secret_store == "file" or os.environ.get("CCGATE_SECRET_STORE") == "file":
        return store, Check("secret store", "warn", store.description, "secrets sit in a plaintext file (0600)")
    return store, Check("secret store", "ok", store.description)


def _secrets(profiles: list[Profile], store: SecretStore) -> Iterator[Check]:
    for profile in profiles:
        if not profile.needs_secret:
            continue
        try:
            present = bool(store.get(profile.name))
        except CcgateError as exc:
            yield Check(f"profile {profile.name}", "fail", exc.message)
            continue
        if present:
            yield Check(f"profile {profile.name}", "ok", f"{profile.kind}, secret stored")
        else:
            yield Check(
                f"profile {profile.name}",
                "fail",
                f"{profile.kind} without a stored secret",
                f"ccgate profile edit {profile.name} --secret",
            )


def _logins(profiles: list[Profile]) -> Iterator[Check]:
    for profile in profiles:
        if profile.kind != "claude-login":
            continue
        login = profile.login_file()
        if login is not None and login.exists():
            yield Check(f"profile {profile.name}", "ok", f"claude-login, logged in ({profile.config_dir})")
        else:
            yield Check(
                f"profile {profile.name}",
                "warn",
                "claude-login with no login yet",
                f"ccgate exec {profile.name} -- claude, then /login",
            )


def _secret_lifetimes(profiles: list[Profile], now: float) -> Iterator[Check]:
    """A setup-token's year (from when ccgate stored it), a claude-login's stored expiry (never the token)."""
    from datetime import datetime

    from ccgate import health_check as life

    for profile in profiles:
        state = life.setup_token_state(profile, now)
        if state is not None and profile.secret_stored is not None:
            days = life.secret_age_days(profile, now) or 0.0
            end = datetime.fromtimestamp(profile.secret_stored.timestamp() + life.SETUP_TOKEN_DAYS * life.DAY_S)
            detail = f"token stored {days:.0f} days ago ({life.stored_iso(profile)}); a setup-token lasts about a year"
            fix = f"claude setup-token, then ccgate profile edit {profile.name} --secret"
            if state == "expired":
                yield Check(f"setup-token {profile.name}", "fail", f"{detail}: it has reached its year", fix)
            elif state == "near":
                yield Check(f"setup-token {profile.name}", "warn", f"{detail}: it ends {end:%Y-%m-%d}", fix)
            else:
                yield Check(f"setup-token {profile.name}", "ok", f"{detail} (until {end:%Y-%m-%d})")
        login = life.login_state(profile, now)
        expires = life.login_expiry(profile)
        if login is not None and expires is not None:
            when = datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M")
            fix = f"ccgate exec {profile.name} -- claude (it refreshes the login; /login there if it asks)"
            if login == "ok":
                yield Check(f"login {profile.name}", "ok", f"stored login valid until {when}")
            else:
                verb = "expired" if login == "expired" else "expires"
                yield Check(f"login {profile.name}", "warn", f"the stored login {verb} {when}", fix)


def _alerts(now: float) -> Iterator[Check]:
    """The alerts still current that no other check covers (budgets, limits, fallbacks)."""
    from ccgate import alerts

    for alert in alerts.current(now):
        if alert.kind in DOCTOR_ALERTS:
            yield Check(f"alert {alert.profile or alert.kind}", "warn", alert.message, alert.fix)


def _injection(profiles: list[Profile]) -> Iterator[Check]:
    for profile in profiles:
        if profile.inject_credential:
            yield Check(
                f"injection {profile.name}",
                "warn",
                "the forwarder adds this profile's secret to requests that carry none: any local process "
                "that can reach its port can spend it",
                f"ccgate profile edit {profile.name} --no-inject-credential; use `ccgate use NAME --sealed` instead",
            )


def _environment(env: Mapping[str, str]) -> list[Check]:
    fix = 'eval "$(ccgate use NAME)" or eval "$(ccgate off)"'
    found = [Check("environment", "warn", problem, fix) for problem in conflicts(env)]
    exported = [v for v in CREDENTIAL_VARS if env.get(v) and not looks_sealed(env[v])]
    if exported and env.get(SCRUB_VAR) != "1":
        active = env.get(PROFILE_VAR, "NAME")
        found.append(
            Check(
                "environment",
                "warn",
                f"{', '.join(exported)} holds a long-lived secret, unsealed: every command Claude Code runs sees it",
                f'eval "$(ccgate use {active} --sealed)", or set scrub_subprocess_env on the profile',
            )
        )
    return found or [Check("environment", "ok", "no conflicting or exposed Claude Code credentials")]


def _claude_settings(env: Mapping[str, str], cwd: Path) -> Iterator[Check]:
    home = Path(env.get("HOME") or Path.home())
    user_dir = Path(env["CLAUDE_CONFIG_DIR"]) if env.get("CLAUDE_CONFIG_DIR") else home / ".claude"
    files = [user_dir / "settings.json", cwd / ".claude" / "settings.json", cwd / ".claude" / "settings.local.json"]
    clean = True
    for path in files:
        data = _read_json(path)
        if not isinstance(data, dict):
            continue
        env_block = data.get("env")
        block: dict[str, object] = env_block if isinstance(env_block, dict) else {}
        overriding = sorted(k for k in block if k in MANAGED_VARS)
        if overriding:
            clean = False
            yield Check(
                "claude settings",
                "warn",
                f"{path} sets {', '.join(overriding)} in its env block: it wins over what `ccgate use` exports",
                f"remove them from {path} (ccgate never edits Claude Code's files)",
            )
        if data.get("apiKeyHelper") and "ccgate token" not in str(data["apiKeyHelper"]):
            clean = False
            yield Check(
                "claude settings",
                "warn",
                f"{path} has an apiKeyHelper that supplies its own key",
                f"remove apiKeyHelper from {path}, or make it `ccgate token NAME`",
            )
    state = _read_json(home / ".claude.json")
    if isinstance(state, dict) and state.get("primaryApiKey"):
        clean = False
        yield Check(
            "claude settings",
            "warn",
            f"{home / '.claude.json'} holds a primaryApiKey from an API-key login",
            "run `claude /logout` there, or expect 'auth conflict' warnings",
        )
    if clean:
        yield Check("claude settings", "ok", "no Claude Code settings override the shell")


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _forwarder(config: Config) -> Check:
    from ccgate.gateway.runfile import locate

    url = locate(config.settings.host, config.settings.port).url
    try:
        with urllib.request.urlopen(f"{url}/ccgate/health", timeout=1.5) as resp:
            health = json.loads(resp.read())
    except (OSError, ValueError, urllib.error.URLError):
        return Check(
            "forwarder", "warn", f"not answering on {url}", "ccgate serve --detach (or ccgate service install)"
        )
    log = health.get("log") or {}
    if log.get("dropped"):
        return Check(
            "forwarder",
            "fail",
            f"{url}: usage log dropped {log['dropped']} records ({log.get('last_error')})",
            "make the usage database writable; see `ccgate status`",
        )
    return Check("forwarder", "ok", f"{url}: {health.get('requests')} requests, backlog {log.get('backlog', 0)}")


def _usage_log(config: Config) -> Iterator[Check]:
    """The usage log's state, and the alarms of the last week (reports/alarms.py: the dashboard's too)."""
    from ccgate.reports import alarms, reader
    from ccgate.reports.rules import ProfileSet

    db = reader.log_path()
    if not db.exists():
        yield Check("usage log", "ok", f"{db} not created yet (the forwarder creates it)")
        return
    writable = os.access(db, os.W_OK) and os.access(db.parent, os.W_OK)
    size_mb = db.stat().st_size / 1e6
    try:
        conn = reader.open_log(db)
    except reader.LogOutdated as exc:
        yield Check("usage log", "warn", exc.message, "ccgate stats (upgrades it once)")
        return
    except sqlite3.Error as exc:
        yield Check("usage log", "fail", f"{db}: {exc}")
        return
    yield Check(
        "usage log",
        "ok" if writable else "fail",
        f"{db} ({size_mb:.1f} MB)",
        "" if writable else f"chmod u+w {db} {db.parent}",
    )
    profiles = ProfileSet.from_tables(config.profiles)
    assert conn is not None
    try:
        found = alarms.alarms(conn, profiles, time.time(), RECENT_S)
    except sqlite3.Error as exc:
        yield Check("usage log", "fail", f"{db}: {exc}")
        return
    finally:
        conn.close()
    for alarm in found:
        if alarm.kind == "rate_limited":
            continue  # a moment's state, not a setup problem (the dashboard shows it)
        name = CHECK_NAMES.get(alarm.kind, alarm.kind)
        yield Check(f"{name} {alarm.profile or '-'}", alarm.severity, alarm.message, alarm.fix)
    flagged = {a.profile for a in found if a.kind == "api_billed"}
    for name in profiles.subscription_profiles:
        if name not in flagged:
            yield Check(f"billing {name}", "ok", "no recent request came back API-billed")


def _online(profiles: list[Profile], opener: Callable[..., object] = urllib.request.urlopen) -> Iterator[Check]:
    for profile in profiles:
        request = urllib.request.Request(profile.upstream + "/", method="HEAD")
        try:
            opener(request, timeout=5)
        except urllib.error.HTTPError:
            pass  # any HTTP answer means the upstream is there
        except (OSError, urllib.error.URLError) as exc:
            yield Check(f"upstream {profile.name}", "fail", f"{profile.upstream} unreachable: {exc}")
            continue
        yield Check(f"upstream {profile.name}", "ok", f"{profile.upstream} reachable")
