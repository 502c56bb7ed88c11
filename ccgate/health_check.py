"""Credential health: does each profile's credential work, and how long will it last?

`check_profiles` makes one free request per profile, through its base URL with its real credential:
`POST /v1/messages/count_tokens` (token counting costs nothing, works for API keys and OAuth tokens
alike, and LiteLLM serves it), or `GET /v1/models` where the upstream has no count_tokens (404/405).
The answer is read as:

- `works`: 2xx (a 429 too: the credential was accepted, the account is only rate-limited);
- `rejected`: 401 or 403, with what to run;
- `wrong_route`: a subscription profile answered with the API-key rate-limit headers, or an API-key
  profile with the subscription's (usage/record.billing_route decides, as for the usage log);
- `unreachable`: no HTTP answer (refused, timed out, DNS);
- `error`: any other status.

Lifetimes: a `claude setup-token` token lasts a year (SETUP_TOKEN_DAYS); ccgate keeps when each
secret was stored (`secret_stored` in the profile's table) and warns SETUP_TOKEN_WARN_DAYS before.
A claude-login's stored login carries its own expiry (`expiresAt` in the config dir's
.credentials.json): only that figure is read, never the token.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ccgate.config import Config
from ccgate.errors import CcgateError
from ccgate.profiles import Profile, all_profiles, load_credentials

Result = Literal["works", "rejected", "wrong_route", "unreachable", "error", "skipped"]
FAILED = frozenset({"rejected", "wrong_route", "unreachable", "error"})
CHECK_MODEL = "claude-haiku-4-5"
TIMEOUT_S = 15.0
CONNECT_TIMEOUT_S = 5.0
DAY_S = 86400.0
SETUP_TOKEN_DAYS = 365
SETUP_TOKEN_WARN_DAYS = 30
LOGIN_WARN_S = DAY_S  # a stored login expiring within a day (or expired) is worth a word
EXPECTED_ROUTE = {"max-oauth": "subscription", "claude-login": "subscription", "api-key": "api"}


@dataclass(frozen=True, slots=True)
class CheckResult:
    profile: str
    kind: str
    result: Result
    detail: str
    fix: str = ""
    status: int | None = None
    billing: str | None = None
    url: str | None = None

    @property
    def failed(self) -> bool:
        return self.result in FAILED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the live check -------------------------------------------------------------------------------


def check_profiles(config: Config, names: list[str], store: Any) -> list[CheckResult]:
    """One free request per profile (all at once); the profiles named, or every profile."""
    from ccgate.profiles import get_profile

    profiles = [get_profile(config, n) for n in names] if names else all_profiles(config)
    prepared = [(p, _request_headers(config, p, store)) for p in profiles]
    return asyncio.run(_check_all(prepared))


async def _check_all(prepared: list[tuple[Profile, dict[str, str] | CheckResult]]) -> list[CheckResult]:
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()) as session:
        jobs = [
            _check_one(session, p, h) if isinstance(h, dict) else _done(h)  # a CheckResult: nothing to send
            for p, h in prepared
        ]
        return list(await asyncio.gather(*jobs))


async def _done(result: CheckResult) -> CheckResult:
    return result


def _request_headers(config: Config, profile: Profile, store: Any) -> dict[str, str] | CheckResult:
    """The headers Claude Code would send for the profile (its credential, custom headers), or why not."""
    from ccgate.gateway.credentials import secret_headers

    headers = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
    for line in profile.headers:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    if profile.kind == "claude-login":
        token, expires = _login(profile)
        if token is None:
            return CheckResult(profile.name, profile.kind, "rejected", "no stored login", _fix(profile))
        if expires is not None and expires <= time.time():
            return CheckResult(
                profile.name,
                profile.kind,
                "skipped",
                "the stored login's access token has expired; Claude Code refreshes it on its next run",
                f"ccgate exec {profile.name} -- claude (or /login there if that fails)",
            )
        headers["Authorization"] = f"Bearer {token}"
        headers["anthropic-beta"] = "oauth-2025-04-20"
        return headers
    try:
        creds = load_credentials(config, profile, store)
    except CcgateError as exc:
        return CheckResult(profile.name, profile.kind, "rejected", exc.message, _fix(profile))
    headers.update(secret_headers(profile, creds, None))
    return headers


async def _check_one(session: Any, profile: Profile, headers: dict[str, str]) -> CheckResult:
    import aiohttp

    model = profile.haiku_model or profile.model or CHECK_MODEL
    body = json.dumps({"model": model.removesuffix("[1m]"), "messages": [{"role": "user", "content": "ok"}]})
    url = profile.upstream + "/v1/messages/count_tokens"
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
            status, answer = resp.status, dict(resp.headers)
        if status in (404, 405):
            url = profile.upstream + "/v1/models"
            get_headers = {k: v for k, v in headers.items() if k != "content-type"}
            async with session.get(url, headers=get_headers, allow_redirects=False) as resp:
                status, answer = resp.status, dict(resp.headers)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = type(exc).__name__
        return CheckResult(
            profile.name,
            profile.kind,
            "unreachable",
            f"{profile.upstream} did not answer ({reason})",
            "check the base URL and that the upstream is running (ccgate profile show " + profile.name + ")",
            url=url,
        )
    return judge(profile, status, answer, url)


def judge(profile: Profile, status: int, headers: dict[str, str], url: str) -> CheckResult:
    """What an upstream's answer to the check says about the profile's credential."""
    from ccgate.usage.record import billing_route

    billing = billing_route(headers)
    expected = "subscription" if profile.via_max else EXPECTED_ROUTE.get(profile.kind)

    def result(outcome: Result, detail: str, fix: str = "") -> CheckResult:
        return CheckResult(profile.name, profile.kind, outcome, detail, fix, status, billing, url)

    if status in (401, 403):
        return result("rejected", f"{status} from {url}", _fix(profile))
    if not (200 <= status < 300 or status == 429):
        return result("error", f"{status} from {url}", "see `ccgate doctor --online`")
    if expected and billing != "unknown" and billing != expected:
        return result(
            "wrong_route",
            f"the credential works, but the answer came with the {billing} rate-limit headers: "
            f"this profile's traffic is billed as {billing}, not {expected}",
            _route_fix(profile, billing),
        )
    note = " (rate-limited)" if status == 429 else ""
    route = f"; billed as {billing}" if billing != "unknown" else ""
    return result("works", f"{status} from {url}{note}{route}")


def _fix(profile: Profile) -> str:
    return {
        "max-oauth": f"claude setup-token, then ccgate profile edit {profile.name} --secret",
        "api-key": f"create a key in the Anthropic Console, then ccgate profile edit {profile.name} --secret",
        "litellm-key": f"get a working virtual key from LiteLLM, then ccgate profile edit {profile.name} --secret",
        "claude-login": f"ccgate exec {profile.name} -- claude, then /login",
    }[profile.kind]


def _route_fix(profile: Profile, billing: str) -> str:
    if billing == "api":
        return "the upstream billed an API key: check the base URL and that no proxy swaps the credential"
    return f"an API-key profile got the subscription's headers: is the secret of {profile.name!r} an OAuth token?"


# --- lifetimes --------------------------------------------------------------------------------------


def _login(profile: Profile) -> tuple[str | None, float | None]:
    """(access token, expiry in unix seconds) of a claude-login's stored login; (None, None) if none.

    The token is returned only for the check's own request; nothing prints or keeps it."""
    path = profile.login_file()
    if path is None:
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, None
    oauth = data.get("claudeAiOauth") if isinstance(data, dict) else None
    if not isinstance(oauth, dict):
        return None, None
    token = oauth.get("accessToken") if isinstance(oauth.get("accessToken"), str) else None
    expires = oauth.get("expiresAt")
    return token, expires / 1000 if isinstance(expires, int | float) and not isinstance(expires, bool) else None


def login_expiry(profile: Profile) -> float | None:
    """When a claude-login's stored login expires (unix seconds), or None."""
    return _login(profile)[1]


def secret_age_days(profile: Profile, now: float) -> float | None:
    if profile.secret_stored is None:
        return None
    return (now - profile.secret_stored.timestamp()) / DAY_S


def setup_token_state(profile: Profile, now: float) -> Literal["ok", "near", "expired"] | None:
    """A max-oauth token's year: near from SETUP_TOKEN_WARN_DAYS before its end, expired at 365 days."""
    if profile.kind != "max-oauth" or profile.secret_stored is None:
        return None
    age_s = now - profile.secret_stored.timestamp()
    if age_s >= SETUP_TOKEN_DAYS * DAY_S:
        return "expired"
    if age_s >= (SETUP_TOKEN_DAYS - SETUP_TOKEN_WARN_DAYS) * DAY_S:
        return "near"
    return "ok"


def login_state(profile: Profile, now: float) -> Literal["ok", "near", "expired"] | None:
    expires = login_expiry(profile) if profile.kind == "claude-login" else None
    if expires is None:
        return None
    if expires <= now:
        return "expired"
    return "near" if expires - now <= LOGIN_WARN_S else "ok"


def stored_iso(profile: Profile) -> str | None:
    return profile.secret_stored.astimezone(UTC).isoformat(timespec="seconds") if profile.secret_stored else None


def now_stamp() -> datetime:
    """The moment a secret is stored, to the second, as config.toml keeps it."""
    return datetime.now(UTC).replace(microsecond=0)


def secret_alerts(config: Config, now: float) -> list[Any]:
    """secret_expiry alerts: a setup-token near or past its year. (A claude-login's access token
    expires and is refreshed by Claude Code every few hours: doctor shows it, no alert would help.)"""
    from ccgate.alerts import Alert

    out = []
    for profile in all_profiles(config):
        token = setup_token_state(profile, now)
        if token in ("near", "expired") and profile.secret_stored is not None:
            end = profile.secret_stored.timestamp() + SETUP_TOKEN_DAYS * DAY_S
            when = datetime.fromtimestamp(end).strftime("%Y-%m-%d")
            what = "has reached its year" if token == "expired" else f"reaches its year on {when}"
            out.append(
                Alert(
                    "secret_expiry",
                    f"secret:{profile.name}:{int(profile.secret_stored.timestamp())}:{token}",
                    "fail" if token == "expired" else "warn",
                    f"{profile.name}: setup-token {'expired' if token == 'expired' else 'expires ' + when}",
                    f"the token of profile {profile.name} was stored on {stored_iso(profile)} and {what}"
                    " (claude setup-token tokens last about a year)",
                    f"claude setup-token, then ccgate profile edit {profile.name} --secret",
                    profile.name,
                    now,
                    None if token == "expired" else end,
                )
            )
    return out
