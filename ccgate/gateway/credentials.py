"""The credential rule: which credential headers go upstream for one request.

The rule LiteLLM converged on after its issue #13380, with ccgate's stricter default:
1. the client sent `x-api-key` and/or `Authorization`: they go upstream byte for byte;
2. it sent neither: nothing goes, unless the profile opted in to injection, in which case the
   profile's own secret goes in the header its kind needs;
3. an empty or placeholder credential (`x-api-key:` with nothing, `Authorization: Bearer ` with
   no token, the literal None/null/undefined a misconfigured client sends) counts as absent:
   it is removed, never forwarded, and injection then applies as if nothing had been sent.
Sealed handles (issue 8) are the one exception to rule 1: ccgate minted them, so it swaps them
for the secret they stand for (`ccgate.gateway.sealing`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccgate.profiles import Credentials, Profile
from ccgate.usage.model import CredentialKind

OAUTH_BETA = "oauth-2025-04-20"
OAUTH_PREFIX = "sk-ant-oat"
CREDENTIAL_HEADERS = ("authorization", "x-api-key")
# Values that stand for "no credential": what empty variables and unset templates turn into.
PLACEHOLDERS = frozenset({"", "none", "null", "undefined", "nil", "bearer"})


@dataclass(slots=True)
class Decision:
    """Headers to set on the upstream request (an empty value removes the header), and what to log."""

    set_headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a secret
    kind: CredentialKind = "none"
    fingerprint: str | None = None


def fingerprint(value: str) -> str:
    """Short and non-reversible: tells two credentials apart in the log, reveals nothing."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


def client_kind(api_key: str | None, authorization: str | None) -> CredentialKind:
    if api_key and authorization:
        return "both"
    if api_key:
        return "api_key"
    if authorization:
        token = authorization.partition(" ")[2]
        return "oauth" if token.startswith(OAUTH_PREFIX) else "bearer"
    return "none"


def credential(name: str, value: str | None) -> str | None:
    """The header's value if it carries a credential; None if absent, empty or a placeholder."""
    if value is None:
        return None
    token = value.strip()
    if name == "authorization":
        scheme, _, rest = token.partition(" ")
        if scheme.lower() == "bearer":
            token = rest.strip()
    return None if token.lower() in PLACEHOLDERS else value


def placeholder_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Credential headers present only as placeholders: to be removed upstream ("" removes)."""
    return {
        name: ""
        for name in CREDENTIAL_HEADERS
        if (value := headers.get(name)) is not None and credential(name, value) is None
    }


def passed_through(headers: Mapping[str, str]) -> Decision:
    """Rule 1 (and rule 2 without injection): the client's own credentials, untouched."""
    api_key = credential("x-api-key", headers.get("x-api-key"))
    authorization = credential("authorization", headers.get("authorization"))
    # Anthropic authenticates with x-api-key when both are present: that is the one to fingerprint.
    used = api_key or authorization
    return Decision(
        set_headers=placeholder_headers(headers),
        kind=client_kind(api_key, authorization),
        fingerprint=fingerprint(used) if used else None,
    )


def has_client_credential(headers: Mapping[str, str]) -> bool:
    return any(credential(name, headers.get(name)) for name in CREDENTIAL_HEADERS)


def with_beta(existing: str | None, beta: str) -> str:
    """`existing` comma list plus `beta`, order kept, nothing duplicated."""
    values = [v.strip() for v in (existing or "").split(",") if v.strip()]
    return ",".join(values if beta in values else [*values, beta])


def secret_headers(profile: Profile, creds: Credentials, anthropic_beta: str | None) -> dict[str, str]:
    """The headers that carry `profile`'s own secret upstream, as Claude Code would send them."""
    if profile.kind == "api-key" and creds.secret:
        return {"x-api-key": creds.secret}
    if profile.kind == "max-oauth" and creds.secret:
        return {"Authorization": f"Bearer {creds.secret}", "anthropic-beta": with_beta(anthropic_beta, OAUTH_BETA)}
    if profile.kind == "litellm-key" and creds.secret:
        if creds.max_token:
            return {
                "Authorization": f"Bearer {creds.max_token}",
                "anthropic-beta": with_beta(anthropic_beta, OAUTH_BETA),
                "x-litellm-api-key": f"Bearer {creds.secret}",
            }
        return {"Authorization": f"Bearer {creds.secret}"}
    return {}
