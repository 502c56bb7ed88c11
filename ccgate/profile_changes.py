"""Adding, changing, renaming and removing profiles, with their secrets and what refers to them.

Each use-case runs on a config read under its lock (`config.editing`) and saves it. The secret
store and config.toml are two files that cannot change together, so the order is chosen for
what a failure leaves: a new secret is stored before the profile that names it and taken back
if the profile cannot be written; a removed profile's secret goes first (a profile without one
can be mended, a secret nobody names is lost to sight). What refers to a profile by name — a
rider's `via_max`, a `fallback`, its budget, the default profile — follows a rename and stops a
removal. The CLI parses options into `Changes` and prints what these return.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ccgate import paths
from ccgate.config import Config
from ccgate.errors import SecretStoreError, UsageError
from ccgate.profiles import (
    Profile,
    all_profiles,
    get_profile,
    looks_like,
    parse_env_entry,
    profile_from_table,
    rider_of,
    validate_header,
    validate_text,
    validate_url,
)
from ccgate.secrets import SecretStore, open_store
from ccgate.text import join_words, plural

MODEL_OPTIONS = {
    "model": "--model",
    "opus_model": "--opus-model",
    "sonnet_model": "--sonnet-model",
    "haiku_model": "--haiku-model",
}


@dataclass(slots=True)
class Changes:
    """What `profile add` or `profile edit` was asked to set; None leaves a setting as it is, '' removes it."""

    base_url: str | None = None
    model: str | None = None
    opus_model: str | None = None
    sonnet_model: str | None = None
    haiku_model: str | None = None
    header: list[str] | None = None  # replace the headers; [''] removes them all
    clear_headers: bool = False
    env: list[str] | None = None  # KEY=VALUE sets, KEY= removes one, '' removes all
    via_max: str | None = None
    inject: bool | None = None
    config_dir: str | None = None
    own_config_dir: bool = False
    scrub: bool | None = None
    fallback: str | None = None

    @classmethod
    def of(cls, options: dict[str, Any]) -> Changes:
        """The changes among a command's options (its parameters by name; others are ignored)."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if options.get(f.name) is not None})


@dataclass(slots=True)
class Outcome:
    """What a use-case did that the person should hear of, besides its success."""

    warnings: list[str] = field(default_factory=list)


# --- the rules a profile is held to ------------------------------------------------------------


def apply(profile: Profile, changes: Changes) -> None:
    """Change `profile` as asked; every value checked as it is taken."""
    _check_text(changes)
    if changes.config_dir is not None:
        profile.config_dir = str(Path(changes.config_dir).expanduser().resolve()) if changes.config_dir else None
        profile.own_config_dir = False
    if changes.own_config_dir:
        if changes.config_dir:
            raise UsageError("choose one of --config-dir and --own-config-dir")
        profile.config_dir, profile.own_config_dir = str(paths.own_config_dir(profile.name)), True
    if changes.scrub is not None:
        profile.scrub_subprocess_env = changes.scrub
    if changes.base_url is not None:
        profile.base_url = validate_url(changes.base_url) if changes.base_url else None
    for key in MODEL_OPTIONS:
        if (value := getattr(changes, key)) is not None:
            setattr(profile, key, value or None)
    if changes.clear_headers:
        profile.headers = []
    if changes.header:
        profile.headers = [validate_header(h) for h in changes.header if h]
    _apply_env(profile, changes.env or [])
    if changes.via_max is not None:
        profile.via_max = changes.via_max or None
    if changes.inject is not None:
        profile.inject_credential = changes.inject
    if changes.fallback is not None:
        profile.fallback = changes.fallback or None


def _check_text(changes: Changes) -> None:
    for option, value in (
        ("--base-url", changes.base_url),
        *((option, getattr(changes, key)) for key, option in MODEL_OPTIONS.items()),
        ("--via-max", changes.via_max),
        ("--config-dir", changes.config_dir),
        ("--fallback", changes.fallback),
        *(("--header", h) for h in changes.header or []),
        *(("--env", e) for e in changes.env or []),
    ):
        if value is not None:
            validate_text(option, value)


def _apply_env(profile: Profile, entries: list[str]) -> None:
    if "" in entries:
        profile.env = {}
    for entry in (e for e in entries if e):
        name, value = parse_env_entry(entry)
        if value:
            profile.env[name] = value
        else:
            profile.env.pop(name, None)


def check(config: Config, profile: Profile) -> list[str]:
    """Validate the whole profile as loading it later would; what deserves a warning is returned."""
    profile_from_table(profile.name, profile.to_table(), str(config.path))
    if profile.via_max:
        rider_of(config, profile)
    if profile.fallback:
        _check_fallback(config, profile)
    if profile.inject_credential:
        return [
            f"inject_credential is on for {profile.name!r}: any local process or web page that "
            "reaches the forwarder's port can spend this secret"
        ]
    return []


def _check_fallback(config: Config, profile: Profile) -> None:
    from ccgate.gateway.fallback import FALLBACK_KINDS
    from ccgate.reports.rules import ProfileSet

    tables = {**config.profiles, profile.name: profile.to_table()}
    if not ProfileSet.from_tables(tables).uses_subscription(profile.name):
        raise UsageError("--fallback applies to subscription profiles (max-oauth, claude-login, --via-max)")
    if profile.fallback == profile.name:
        raise UsageError(f"--fallback {profile.name!r}: a profile cannot fall back to itself")
    target = get_profile(config, profile.fallback or "")
    if target.kind not in FALLBACK_KINDS:
        raise UsageError(
            f"--fallback {target.name!r}: a {target.kind} profile has no secret the forwarder can send; "
            f"choose a {join_words(sorted(FALLBACK_KINDS))} profile"
        )
    if target.fallback:
        raise UsageError(f"--fallback {target.name!r}: it has a fallback of its own (one hop only)")


def refuse_existing(config: Config, name: str) -> None:
    if name in config.profiles:
        raise UsageError(f"profile {name!r} exists; change it with `ccgate profile edit {name}`")


def ensure_store_usable(config: Config, insecure: bool) -> None:
    """No keyring at all is found out before the person types a secret, not after."""
    if not insecure:
        open_store(config.settings).ensure_usable()


# --- the use-cases -----------------------------------------------------------------------------


def add(config: Config, profile: Profile, secret: str | None, *, insecure: bool) -> Outcome:
    """Store the secret, then the profile; if the profile cannot be written, the secret goes too."""
    refuse_existing(config, profile.name)
    outcome = Outcome(check(config, profile))
    store = _store(config, insecure, outcome)
    if secret is not None:
        _store_secret(store, profile, secret, outcome)
    config.profiles[profile.name] = profile.to_table()
    try:
        config.save()
    except OSError as exc:
        if secret is not None:
            store.delete(profile.name)
        raise UsageError(f"cannot write {config.path}: {exc.strerror}") from None
    _make_own_config_dir(profile)
    return outcome


def edit(config: Config, name: str, changes: Changes, secret: str | None, *, insecure: bool) -> Outcome:
    profile = get_profile(config, name)
    apply(profile, changes)
    outcome = Outcome(check(config, profile))
    _make_own_config_dir(profile)
    store = _store(config, insecure, outcome)
    if secret is not None:
        _store_secret(store, profile, secret, outcome)
    config.profiles[name] = profile.to_table()
    config.save()
    return outcome


def remove(config: Config, name: str) -> Profile:
    """Remove `name`, its secret, its budget and its place as the default; the removed profile."""
    from ccgate.budgets import drop_budget

    profile = get_profile(config, name)
    _refuse_while_referred_to(config, name)
    if profile.needs_secret:
        open_store(config.settings).delete(name)
    del config.profiles[name]
    drop_budget(config, name)
    if config.settings.default_profile == name:
        config.set_setting("default_profile", None)
    config.save()
    return profile


def _refuse_while_referred_to(config: Config, name: str) -> None:
    riders = [p.name for p in all_profiles(config) if p.via_max == name]
    if riders:
        noun = plural(len(riders), "profile").split(" ", 1)[1]
        verb = "rides" if len(riders) == 1 else "ride"
        raise UsageError(f"{noun} {join_words(riders)} {verb} on {name!r} (--via-max); change them first")
    falling = [p.name for p in all_profiles(config) if p.fallback == name]
    if falling:
        one = len(falling) == 1
        raise UsageError(
            f"{join_words(falling)} {'falls' if one else 'fall'} back to {name!r} (--fallback); "
            f"change {'it' if one else 'them'} first: ccgate profile edit {falling[0]} --fallback ''"
        )


def rename(config: Config, old: str, new: str) -> None:
    """Rename `old`; its secret, budget, riders, fallbacks and the default follow."""
    from ccgate.budgets import rename_budget

    profile = get_profile(config, old)
    if new in config.profiles:
        raise UsageError(f"profile {new!r} exists already")
    store = open_store(config.settings)
    secret = store.get(old) if profile.needs_secret else None
    if secret:
        store.set(new, secret)
    config.profiles[new] = config.profiles.pop(old)
    for other in config.profiles.values():
        for key in ("via_max", "fallback"):
            if other.get(key) == old:
                other[key] = new
    rename_budget(config, old, new)
    if config.settings.default_profile == old:
        config.set_setting("default_profile", new)
    try:
        config.save()
    except OSError as exc:
        if secret:
            store.delete(new)
        raise UsageError(f"cannot write {config.path}: {exc.strerror}") from None
    if secret:
        store.delete(old)


def set_default(config: Config, name: str | None) -> None:
    """The forwarder's profile for requests without /p/NAME; None clears it."""
    if name:
        get_profile(config, name)
    config.set_setting("default_profile", name or None)
    config.save()


def secret_states(config: Config, profiles: list[Profile]) -> tuple[dict[str, bool | None], str | None]:
    """Whether each profile's secret is stored (None for kinds without one), and why none is known.

    A store that cannot be read (a locked keyring) must not keep anyone from listing names: then
    every state is None and the reason is returned.
    """
    states: dict[str, bool | None] = dict.fromkeys((p.name for p in profiles), None)
    try:
        store = open_store(config.settings)
        for profile in profiles:
            if profile.needs_secret:
                states[profile.name] = bool(store.get(profile.name))
    except SecretStoreError as exc:
        return dict.fromkeys(states, None), f"cannot tell which secrets are stored: {exc.message}"
    return states, None


def _store(config: Config, insecure: bool, outcome: Outcome) -> SecretStore:
    if insecure and config.settings.secret_store != "file":
        config.set_setting("secret_store", "file")
        outcome.warnings.append("secrets will be stored in a 0600 plaintext file, not the OS keyring")
    return open_store(config.settings)


def _store_secret(store: SecretStore, profile: Profile, secret: str, outcome: Outcome) -> None:
    from ccgate.health_check import now_stamp

    if not looks_like(profile.kind, secret):
        outcome.warnings.append(f"this secret does not look like a {profile.kind} credential; stored anyway")
    store.set(profile.name, secret)
    profile.secret_stored = now_stamp()  # its age, never the secret: doctor warns before a token's year


def _make_own_config_dir(profile: Profile) -> None:
    if profile.own_config_dir and profile.config_dir:
        paths.ensure_private_dir(Path(profile.config_dir))
