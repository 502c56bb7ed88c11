"""Fallback (opt-in): a subscription whose window is used up hands its requests to another profile.

`ccgate profile edit max --fallback api` sets `fallback = "api"` on [profiles.max]. When max's
upstream answers 429 with `anthropic-ratelimit-unified-status: rejected` — before any byte went
to the client, since nothing is relayed until the answer's headers are read — the forwarder logs
that refusal, sends the same request (the same body bytes) to api's upstream with api's own
credential, and streams that answer back. Until the window's reset
(`anthropic-ratelimit-unified-reset`) every request of max goes straight to api; then max again.

The client's credential never goes to the fallback: its `Authorization`, `x-api-key` and
`x-litellm-api-key` are replaced or removed, and the OAuth beta goes unless the fallback is an
OAuth profile too. The fallback's budget applies (gateway/budget.py); an alert fires once per
window. A fallback's own 429 is passed through (one hop only), and nothing of this happens
without the setting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ccgate.gateway.credentials import OAUTH_BETA, Decision, fingerprint, secret_headers
from ccgate.gateway.routing import Route
from ccgate.profiles import Credentials, Profile

UNIFIED_STATUS = "anthropic-ratelimit-unified-status"
UNIFIED_RESET = "anthropic-ratelimit-unified-reset"
# No reset time in the refusal: try the subscription again after this long.
DEFAULT_HOLD_S = 300.0
# Kinds whose secret ccgate holds, so it can send their requests itself.
FALLBACK_KINDS = frozenset({"api-key", "litellm-key", "max-oauth"})
CLIENT_CREDENTIAL_HEADERS = ("authorization", "x-api-key", "x-litellm-api-key")


@dataclass(frozen=True, slots=True)
class Diverted(Route):
    """A request of `origin` sent to its fallback profile instead."""

    origin: str = ""


def exhausted_until(status: int, headers: Mapping[str, str], now: float) -> float | None:
    """When a subscription's answer says its window is used up: the time it resets; else None."""
    if status != 429:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    if lowered.get(UNIFIED_STATUS, "").strip().lower() != "rejected":
        return None
    for name, relative in ((UNIFIED_RESET, False), ("retry-after", True)):
        try:
            value = float(lowered[name])
        except (KeyError, ValueError):
            continue
        if math.isfinite(value):
            until = now + value if relative else value
            if until > now:
                return until
    return now + DEFAULT_HOLD_S


def fallback_decision(profile: Profile, creds: Credentials, client_headers: Mapping[str, str]) -> Decision:
    """The fallback's own credential headers, every credential header of the client's removed."""
    beta = client_headers.get("anthropic-beta")
    if profile.kind != "max-oauth" and not (profile.kind == "litellm-key" and creds.max_token):
        beta = _without(beta, OAUTH_BETA)
    out = secret_headers(profile, creds, beta)
    present = {name.lower() for name in out}
    for name in CLIENT_CREDENTIAL_HEADERS:
        if name not in present:
            out[name] = ""  # an empty value removes the header (proxy.upstream_headers)
    if "anthropic-beta" not in present and beta != client_headers.get("anthropic-beta"):
        out["anthropic-beta"] = beta or ""
    used = out.get("x-api-key") or out.get("Authorization", "").partition(" ")[2]
    return Decision(set_headers=out, kind="injected", fingerprint=fingerprint(used) if used else None)


def _without(beta: str | None, name: str) -> str | None:
    if beta is None:
        return None
    return ",".join(v.strip() for v in beta.split(",") if v.strip() and v.strip() != name)


class FallbackState:
    """Which subscription profiles are used up, and until when (in memory: a restart asks again)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def exhausted(self, profile: str, until: float) -> None:
        self._until[profile] = until

    def diverted(self, profile: Profile | None, now: float | None = None) -> str | None:
        """The fallback profile to use for `profile` now, or None."""
        if profile is None or not profile.fallback:
            return None
        until = self._until.get(profile.name)
        if until is None:
            return None
        if (time.time() if now is None else now) >= until:
            del self._until[profile.name]  # the window reset: the subscription again
            return None
        return profile.fallback

    def until(self, profile: str) -> float | None:
        return self._until.get(profile)
