"""Profiles: named credential setups for Claude Code, and the environment each produces.

A profile's secret lives in the secret store (ccgate.secrets); everything else lives in
config.toml under [profiles.NAME]. `environment()` is the single place that decides which
variables a profile sets and which conflicting ones it clears; `ccgate use`, `exec` and the
forwarder all go through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from ccgate.config import Config
from ccgate.errors import ProfileNotFound, UsageError
from ccgate.text import join_words

KINDS = ("max-oauth", "api-key", "litellm-key", "claude-login")
# claude-login has no secret of ccgate's: Claude Code's own /login, kept in the profile's
# CLAUDE_CONFIG_DIR, is the credential.
KINDS_WITH_SECRET = frozenset(("max-oauth", "api-key", "litellm-key"))
SECRET_PREFIX = {"max-oauth": "sk-ant-oat01-", "api-key": "sk-ant-api03-"}
ANTHROPIC_URL = "https://api.anthropic.com"

NAME_RE = re.compile(r"[a-z0-9._-]{1,64}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEADER_RE = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*)")

# Claude Code's credential and routing variables: several set at once conflict (REFERENCE.md,
# "which variable produces which header"), so `use` and `off` unset every one of them that the
# profile does not set, whoever set it.
CLEARED_VARS = (
    "CLAUDE_CODE_OAUTH_TOKEN",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_CUSTOM_HEADERS",
    "ANTHROPIC_MODEL",
    "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "ANTHROPIC_DEFAULT_HAIKU_MODEL",
    "ANTHROPIC_SMALL_FAST_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "ANTHROPIC_BEDROCK_BASE_URL",
    "ANTHROPIC_VERTEX_BASE_URL",
    "CLAUDE_CODE_SKIP_BEDROCK_AUTH",
    "CLAUDE_CODE_SKIP_VERTEX_AUTH",
)
# Settings a person also sets for themselves: a profile may set them, and then they are named in
# CCGATE_MANAGED like its free `env` entries; they are unset only when ccgate set them.
OWNED_VARS = ("CLAUDE_CONFIG_DIR", "CLAUDE_CODE_SUBPROCESS_ENV_SCRUB")
MANAGED_VARS = (*CLEARED_VARS, *OWNED_VARS)  # every variable of Claude Code's that ccgate may set
CREDENTIAL_VARS = ("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
# Bookkeeping of ccgate's own: the active profile, and the free `env` names it set, so that
# the next `use` or `off` can clear exactly those.
PROFILE_VAR = "CCGATE_PROFILE"
EXTRA_VAR = "CCGATE_MANAGED"
SEALED_VAR = "CCGATE_SEALED"  # id (not the handle) of the sealed handle this shell holds

MODEL_SETTINGS = {
    "model": "ANTHROPIC_MODEL",
    "opus_model": "ANTHROPIC_DEFAULT_OPUS_MODEL",
    "sonnet_model": "ANTHROPIC_DEFAULT_SONNET_MODEL",
    "haiku_model": "ANTHROPIC_DEFAULT_HAIKU_MODEL",
}
# Variables a profile option sets (the secret, --base-url, --header, the model options,
# --config-dir, --scrub-subprocess-env): --env refuses them so there is one place for each.
OPTION_VARS = frozenset(
    (
        *CREDENTIAL_VARS,
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_CUSTOM_HEADERS",
        *MODEL_SETTINGS.values(),
        *OWNED_VARS,
    )
)


@dataclass(slots=True)
class Profile:
    name: str
    kind: str
    base_url: str | None = None
    model: str | None = None
    opus_model: str | None = None
    sonnet_model: str | None = None
    haiku_model: str | None = None
    headers: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    via_max: str | None = None
    inject_credential: bool = False
    config_dir: str | None = None  # exported as CLAUDE_CONFIG_DIR: one Claude Code login per dir
    own_config_dir: bool = False  # ccgate created config_dir (under its data dir)
    scrub_subprocess_env: bool = False
    # Opt-in: when this subscription answers that its window is used up (429, unified status
    # "rejected"), the forwarder sends the request to this profile instead (gateway/fallback.py).
    fallback: str | None = None
    secret_stored: datetime | None = None  # when the secret was stored (never the secret)

    @property
    def needs_secret(self) -> bool:
        return self.kind in KINDS_WITH_SECRET

    @property
    def upstream(self) -> str:
        """Where the forwarder sends this profile's traffic."""
        return (self.base_url or ANTHROPIC_URL).rstrip("/")

    def login_file(self) -> Path | None:
        """Where Claude Code keeps a /login inside this profile's config dir (Linux layout)."""
        return Path(self.config_dir) / ".credentials.json" if self.config_dir else None

    def to_table(self) -> dict[str, Any]:
        table: dict[str, Any] = {"kind": self.kind}
        for key in ("base_url", "via_max", "config_dir", "fallback", *MODEL_SETTINGS):
            value = getattr(self, key)
            if value:
                table[key] = value
        if self.secret_stored is not None:
            table["secret_stored"] = self.secret_stored
        if self.headers:
            table["headers"] = list(self.headers)
        if self.env:
            table["env"] = dict(self.env)
        for flag in ("inject_credential", "own_config_dir", "scrub_subprocess_env"):
            if getattr(self, flag):
                table[flag] = True
        return table


def validate_text(option: str, value: str) -> str:
    """Option text must be valid Unicode: undecodable argv bytes arrive as lone surrogates."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{option}: the value is not valid UTF-8 text; type it again") from None
    return value


def validate_name(name: str) -> str:
    if not NAME_RE.fullmatch(name) or set(name) == {"."}:
        raise UsageError(f"invalid profile name {name!r}: use 1-64 lowercase letters, digits, '.', '_' or '-'")
    return name


def validate_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}: choose one of {', '.join(KINDS)}")
    return kind


def validate_header(line: str) -> str:
    match = HEADER_RE.fullmatch(line)
    if not match or "\n" in line or "\r" in line:
        raise UsageError(f"invalid header {line!r}: write it as 'Name: value' on one line")
    return f"{match.group(1)}: {match.group(2)}"


def parse_env_entry(entry: str) -> tuple[str, str]:
    name, sep, value = entry.partition("=")
    if not sep or not ENV_NAME_RE.fullmatch(name):
        raise UsageError(f"invalid --env {entry!r}: write it as KEY=VALUE")
    if name in OPTION_VARS or name in (PROFILE_VAR, EXTRA_VAR, SEALED_VAR):
        raise UsageError(f"--env {name}: ccgate sets this variable itself; use the matching option")
    return name, value


def validate_url(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = None
    if parts is not None and (parts.username is not None or parts.password is not None):
        # Credentials in a URL would travel in Host and Basic auth and end up echoed in errors and logs.
        raise UsageError(
            "invalid base URL: it holds a user name or password (user:pass@); remove them — "
            "the profile's secret is the credential"
        )
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid base URL {url!r}: expected http(s)://host[:port][/path]")
    return url.rstrip("/")


def profile_from_table(name: str, table: Mapping[str, Any], source: str = "config.toml") -> Profile:
    def bad(why: str) -> UsageError:
        return UsageError(f"{source}: profile {name!r}: {why}")

    if not isinstance(table, Mapping):
        raise bad("must be a table")
    kind = table.get("kind")
    if kind not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}")
    profile = Profile(name=name, kind=kind)
    for key in ("base_url", "via_max", "config_dir", "fallback", *MODEL_SETTINGS):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise bad(f"{key} must be a string")
        setattr(profile, key, value or None)
    stored = table.get("secret_stored")
    if stored is not None:
        if not isinstance(stored, datetime) or stored.tzinfo is None:
            raise bad("secret_stored must be a date and time with its offset (1979-05-27T07:32:00Z)")
        profile.secret_stored = stored
    headers = table.get("headers", [])
    if not isinstance(headers, list) or not all(isinstance(h, str) for h in headers):
        raise bad("headers must be a list of 'Name: value' strings")
    profile.headers = list(headers)
    env = table.get("env", {})
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and ENV_NAME_RE.fullmatch(k) and isinstance(v, str) for k, v in env.items()
    ):
        raise bad('env must be a table of NAME = "value" strings')
    profile.env = dict(env)
    for flag in ("inject_credential", "own_config_dir", "scrub_subprocess_env"):
        value = table.get(flag, False)
        if not isinstance(value, bool):
            raise bad(f"{flag} must be true or false")
        setattr(profile, flag, value)
    if profile.base_url:
        try:
            validate_url(profile.base_url)
        except UsageError as exc:
            raise bad(exc.message) from None
    if kind == "litellm-key" and not profile.base_url:
        raise bad("a litellm-key profile needs base_url")
    if kind == "claude-login" and not profile.config_dir:
        raise bad("a claude-login profile needs a config dir (--config-dir PATH or --own-config-dir)")
    return profile


def get_profile(config: Config, name: str) -> Profile:
    table = config.profiles.get(name)
    if table is None:
        raise ProfileNotFound(name, suggestion(name, config.profiles))
    return profile_from_table(name, table, str(config.path))


def suggestion(name: str, known: Iterable[str]) -> str:
    """ "did you mean …?" for a name that is not a profile, or "" when nothing is close."""
    import difflib

    known = list(known)
    lowercase = "profile names are lowercase; " if name != name.lower() else ""
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    if close:
        return f"{lowercase}did you mean {close[0]!r}?"
    return lowercase.removesuffix("; ")


def all_profiles(config: Config) -> list[Profile]:
    return [get_profile(config, name) for name in sorted(config.profiles)]


@dataclass(slots=True)
class Credentials:
    """The secrets a profile exports: its own and, when it rides on Max, the Max token.

    Kept out of repr so that no traceback, log line or debugger print shows them.
    """

    secret: str | None = field(default=None, repr=False)
    max_token: str | None = field(default=None, repr=False)


def environment(
    profile: Profile,
    creds: Credentials,
    *,
    current: Mapping[str, str],
    gate_url: str | None = None,
    sealed_id: str | None = None,
) -> dict[str, str | None]:
    """The changes `use` makes: name -> value to set, or None to unset.

    Every credential and routing variable (CLEARED_VARS) the profile does not set is unset,
    and so is whatever else a previous `use` set (named in CCGATE_MANAGED in `current`);
    the person's own CLAUDE_CONFIG_DIR and the like stay.
    """
    wanted = _profile_variables(profile, creds)
    if gate_url:
        wanted["ANTHROPIC_BASE_URL"] = gate_url
    owned = sorted(name for name in wanted if name not in CLEARED_VARS)
    if owned:
        wanted[EXTRA_VAR] = " ".join(owned)
    wanted[PROFILE_VAR] = profile.name
    if sealed_id:
        wanted[SEALED_VAR] = sealed_id
    changes: dict[str, str | None] = {
        name: None for name in (*CLEARED_VARS, *previous_extras(current), EXTRA_VAR, SEALED_VAR)
    }
    changes.update(wanted)
    return changes


def clearing_environment(current: Mapping[str, str]) -> dict[str, str | None]:
    """The changes `off` makes: unset everything ccgate manages, and nothing else."""
    names = (*CLEARED_VARS, *previous_extras(current), PROFILE_VAR, EXTRA_VAR, SEALED_VAR)
    return dict.fromkeys(names)


def previous_extras(current: Mapping[str, str]) -> list[str]:
    return [n for n in current.get(EXTRA_VAR, "").split() if ENV_NAME_RE.fullmatch(n)]


def _profile_variables(profile: Profile, creds: Credentials) -> dict[str, str]:
    out: dict[str, str] = {}
    headers = list(profile.headers)
    if profile.kind == "claude-login":
        pass  # every credential variable stays unset: the login in CLAUDE_CONFIG_DIR is used
    elif profile.kind == "max-oauth":
        _put(out, "CLAUDE_CODE_OAUTH_TOKEN", creds.secret)
    elif profile.kind == "api-key":
        _put(out, "ANTHROPIC_API_KEY", creds.secret)
    elif profile.via_max:
        # LiteLLM's "Claude Code Max" flow: the OAuth token reaches Anthropic, the virtual
        # key authenticates to LiteLLM in its own header. ANTHROPIC_AUTH_TOKEN would take
        # Claude Code out of OAuth mode, so it stays unset.
        _put(out, "CLAUDE_CODE_OAUTH_TOKEN", creds.max_token)
        if creds.secret:
            headers.append(f"x-litellm-api-key: Bearer {creds.secret}")
    else:
        _put(out, "ANTHROPIC_AUTH_TOKEN", creds.secret)
    _put(out, "ANTHROPIC_BASE_URL", profile.base_url)
    for key, var in MODEL_SETTINGS.items():
        _put(out, var, getattr(profile, key))
    if headers:
        out["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(headers)
    _put(out, "CLAUDE_CONFIG_DIR", profile.config_dir)
    if profile.scrub_subprocess_env:
        out["CLAUDE_CODE_SUBPROCESS_ENV_SCRUB"] = "1"
    out.update(profile.env)
    return out


def _put(out: dict[str, str], name: str, value: str | None) -> None:
    if value:
        out[name] = value


def conflicts(env: Mapping[str, str]) -> list[str]:
    """Combinations in an environment that make Claude Code pick a credential by surprise."""
    found: list[str] = []
    set_creds = [v for v in CREDENTIAL_VARS if env.get(v)]
    if len(set_creds) > 1:
        both = "both" if len(set_creds) == 2 else "all"
        found.append(
            f"{join_words(set_creds)} are {both} set: Claude Code uses only one of them "
            "(ANTHROPIC_AUTH_TOKEN and ANTHROPIC_API_KEY win over the OAuth token)"
        )
    if env.get("ANTHROPIC_AUTH_TOKEN") and env.get("CLAUDE_CODE_OAUTH_TOKEN"):
        found.append("ANTHROPIC_AUTH_TOKEN takes Claude Code out of OAuth (subscription) mode")
    active = env.get(PROFILE_VAR)
    if set_creds and not active:
        them = "them" if len(set_creds) > 1 else "it"
        found.append(f"{join_words(set_creds)} set outside ccgate: `ccgate use NAME` would clear {them}")
    return found


def looks_like(kind: str, secret: str) -> bool:
    prefix = SECRET_PREFIX.get(kind)
    return prefix is None or secret.startswith(prefix)


def import_from_environment(name: str, env: Mapping[str, str], kind: str | None) -> tuple[Profile, Credentials]:
    """A profile (and its secrets) from the Claude Code variables set in `env`."""
    if kind is None:
        kind = _guess_kind(env)
    validate_kind(kind)
    profile = Profile(name=name, kind=kind, base_url=env.get("ANTHROPIC_BASE_URL") or None)
    for key, var in MODEL_SETTINGS.items():
        setattr(profile, key, env.get(var) or None)
    creds = Credentials()
    headers = [h for h in env.get("ANTHROPIC_CUSTOM_HEADERS", "").splitlines() if h.strip()]
    if kind == "max-oauth":
        creds.secret = env.get("CLAUDE_CODE_OAUTH_TOKEN")
    elif kind == "api-key":
        creds.secret = env.get("ANTHROPIC_API_KEY")
    else:
        creds.secret = env.get("ANTHROPIC_AUTH_TOKEN")
    profile.headers = [validate_header(h) for h in headers]
    if not creds.secret:
        raise UsageError(f"no credential for a {kind} profile in the environment")
    if kind == "litellm-key" and not profile.base_url:
        raise UsageError("a litellm-key profile needs ANTHROPIC_BASE_URL set")
    return profile, creds


def _guess_kind(env: Mapping[str, str]) -> str:
    present = {
        "max-oauth": bool(env.get("CLAUDE_CODE_OAUTH_TOKEN")),
        "api-key": bool(env.get("ANTHROPIC_API_KEY")),
        "litellm-key": bool(env.get("ANTHROPIC_AUTH_TOKEN")),
    }
    found = [k for k, v in present.items() if v]
    if not found:
        raise UsageError(
            "no Claude Code credential in the environment "
            "(CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN)"
        )
    if len(found) > 1:
        raise UsageError(f"several credentials set ({', '.join(found)}); choose one with --kind")
    return found[0]


class _SecretReader(Protocol):
    def get(self, name: str) -> str | None: ...


def load_credentials(config: Config, profile: Profile, store: _SecretReader) -> Credentials:
    """The secrets `use` exports for `profile`; a missing one is an error, never an empty value."""
    creds = Credentials()
    if profile.needs_secret:
        creds.secret = _required_secret(store, profile.name)
    if (rider := rider_of(config, profile)) is not None:
        creds.max_token = _required_secret(store, rider.name)
    return creds


def rider_of(config: Config, profile: Profile) -> Profile | None:
    """The max-oauth profile a litellm-key profile rides on (`via_max`); None when it rides on none."""
    if not profile.via_max:
        return None
    if profile.kind != "litellm-key":
        raise UsageError(f"profile {profile.name!r}: --via-max applies to litellm-key profiles only")
    rider = get_profile(config, profile.via_max)
    if rider.kind != "max-oauth":
        raise UsageError(f"profile {profile.name!r}: --via-max {rider.name!r} is not a max-oauth profile")
    return rider


def _required_secret(store: _SecretReader, name: str) -> str:
    secret = store.get(name)
    if not secret:
        raise UsageError(f"profile {name!r} has no stored secret; set one with `ccgate profile edit {name} --secret`")
    return secret
