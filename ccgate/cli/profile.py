"""`ccgate profile add|list|show|edit|rm|rename|import`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from ccgate import profile_changes
from ccgate.cli._common import active_profile, choices, complete_profile, load, print_json, read_secret, store_for, warn
from ccgate.config import Config, editing
from ccgate.errors import ProfileNotFound, UsageError
from ccgate.profile_changes import Changes
from ccgate.profiles import (
    KINDS,
    KINDS_WITH_SECRET,
    MODEL_SETTINGS,
    Profile,
    all_profiles,
    get_profile,
    import_from_environment,
    validate_kind,
    validate_name,
)
from ccgate.secrets import mask

profile_app = typer.Typer(
    help="Store, inspect and change credential profiles.",
    no_args_is_help=True,
)

EXAMPLE_ADD = "Example: claude setup-token | ccgate profile add max --kind max-oauth --secret-stdin"

KindOpt = typer.Option(None, "--kind", help=f"One of: {', '.join(KINDS)}.", autocompletion=choices(KINDS))
BaseUrlOpt = typer.Option(None, "--base-url", help="Upstream URL (required for litellm-key).")
ModelOpt = typer.Option(None, "--model", help="ANTHROPIC_MODEL.")
OpusOpt = typer.Option(None, "--opus-model", help="ANTHROPIC_DEFAULT_OPUS_MODEL ([1m] allowed).")
SonnetOpt = typer.Option(None, "--sonnet-model", help="ANTHROPIC_DEFAULT_SONNET_MODEL.")
HaikuOpt = typer.Option(None, "--haiku-model", help="ANTHROPIC_DEFAULT_HAIKU_MODEL.")
HeaderOpt = typer.Option(None, "--header", help="Custom header 'Name: value' (repeatable; '' removes them all).")
EnvOpt = typer.Option(None, "--env", help="Extra variable KEY=VALUE (repeatable; KEY= removes one, '' all).")
ViaMaxOpt = typer.Option(None, "--via-max", help="litellm-key: ride on this max-oauth profile.")
StdinOpt = typer.Option(False, "--secret-stdin", help="Read the secret from stdin.")
InsecureOpt = typer.Option(
    False,
    "--insecure-storage",
    help="Store secrets in a 0600 plaintext file instead of the OS keyring (for machines without one).",
)
ConfigDirOpt = typer.Option(
    None, "--config-dir", help="Claude Code config dir for this profile (CLAUDE_CONFIG_DIR): one login per dir."
)
OwnConfigDirOpt = typer.Option(
    False, "--own-config-dir", help="Let ccgate create a private config dir for this profile under its data dir."
)
ScrubOpt = typer.Option(
    None,
    "--scrub-subprocess-env/--no-scrub-subprocess-env",
    help="Export CLAUDE_CODE_SUBPROCESS_ENV_SCRUB=1: Claude Code hides credentials from the commands it runs.",
)
FallbackOpt = typer.Option(
    None,
    "--fallback",
    help="Subscription profiles: when the window is used up (429 'rejected'), the forwarder sends the request "
    "to this profile, with its own credential, until the reset ('' removes it).",
    autocompletion=complete_profile,
)
InjectOpt = typer.Option(
    None,
    "--inject-credential/--no-inject-credential",
    help="Let the forwarder add this profile's secret to requests that carry none. "
    "Anyone who can reach the forwarder's port can then use the secret.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(profile_app, name="profile")


def _warn(warnings: list[str], shown: list[str] | None = None) -> None:
    for message in warnings:
        if message not in (shown or []):
            warn(message)


@profile_app.command("add", epilog=EXAMPLE_ADD)
def add(
    name: str = typer.Argument(..., help="Profile name: lowercase letters, digits, . _ -"),
    kind: str = typer.Option(..., "--kind", help=f"One of: {', '.join(KINDS)}.", autocompletion=choices(KINDS)),
    base_url: str | None = BaseUrlOpt,
    model: str | None = ModelOpt,
    opus_model: str | None = OpusOpt,
    sonnet_model: str | None = SonnetOpt,
    haiku_model: str | None = HaikuOpt,
    header: list[str] | None = HeaderOpt,
    env: list[str] | None = EnvOpt,
    via_max: str | None = ViaMaxOpt,
    inject: bool | None = InjectOpt,
    config_dir: str | None = ConfigDirOpt,
    own_config_dir: bool = OwnConfigDirOpt,
    scrub: bool | None = ScrubOpt,
    fallback: str | None = FallbackOpt,
    secret_stdin: bool = StdinOpt,
    insecure_storage: bool = InsecureOpt,
) -> None:
    """Add a profile; the secret comes from a hidden prompt or --secret-stdin.

    A claude-login profile has no secret: run `ccgate exec NAME -- claude` once and /login there.
    """
    config = load()
    validate_name(name)
    profile_changes.refuse_existing(config, name)
    profile = Profile(name=name, kind=validate_kind(kind))
    profile_changes.apply(profile, Changes.of(locals()))
    shown = profile_changes.check(config, profile)
    _warn(shown)
    secret = None
    if profile.needs_secret:
        profile_changes.ensure_store_usable(config, insecure_storage)
        secret = read_secret(secret_stdin, f"{profile.kind} secret for {name}")
    # The secret was typed outside the lock; what is written is decided on the file read under it.
    with editing(config.path) as config:
        outcome = profile_changes.add(config, profile, secret, insecure=insecure_storage)
    _warn(outcome.warnings, shown)
    print(f'added profile {name!r} ({profile.kind}); switch with: eval "$(ccgate use {name})"')


@profile_app.command(
    "edit",
    epilog="Examples: ccgate profile edit max --opus-model 'claude-opus-4-8[1m]'; "
    "ccgate profile edit max --fallback api",
)
def edit(
    name: str = typer.Argument(..., help="Profile to change.", autocompletion=complete_profile),
    base_url: str | None = BaseUrlOpt,
    model: str | None = ModelOpt,
    opus_model: str | None = OpusOpt,
    sonnet_model: str | None = SonnetOpt,
    haiku_model: str | None = HaikuOpt,
    header: list[str] | None = HeaderOpt,
    clear_headers: bool = typer.Option(False, "--clear-headers", help="Remove all custom headers."),
    env: list[str] | None = typer.Option(None, "--env", help="Set KEY=VALUE, or remove with KEY= (repeatable)."),
    via_max: str | None = ViaMaxOpt,
    inject: bool | None = InjectOpt,
    config_dir: str | None = ConfigDirOpt,
    own_config_dir: bool = OwnConfigDirOpt,
    scrub: bool | None = ScrubOpt,
    fallback: str | None = FallbackOpt,
    secret: bool = typer.Option(False, "--secret", help="Replace the secret (hidden prompt)."),
    secret_stdin: bool = StdinOpt,
    insecure_storage: bool = InsecureOpt,
) -> None:
    """Change a profile's settings and/or its secret. An empty value ('') removes a setting."""
    changes = Changes.of(locals())
    new_secret = None
    if secret or secret_stdin:
        config = load()
        kind = get_profile(config, name).kind
        if kind not in KINDS_WITH_SECRET:
            raise UsageError(f"a {kind} profile has no secret of ccgate's")
        profile_changes.ensure_store_usable(config, insecure_storage)
        new_secret = read_secret(secret_stdin, f"new {kind} secret for {name}")
    with editing() as config:
        outcome = profile_changes.edit(config, name, changes, new_secret, insecure=insecure_storage)
    _warn(outcome.warnings)
    print(f"updated profile {name!r}")


def _describe(config: Config, profile: Profile, stored: bool | None, active: str | None) -> dict[str, Any]:
    return {
        "name": profile.name,
        "kind": profile.kind,
        "base_url": profile.base_url,
        "secret_stored": stored,
        "active": profile.name == active,
        "default": profile.name == config.settings.default_profile,
        **{k: getattr(profile, k) for k in MODEL_SETTINGS},
        "headers": [h.split(":", 1)[0] + ": …" for h in profile.headers],
        "env": dict(profile.env),
        "via_max": profile.via_max,
        "inject_credential": profile.inject_credential,
        "config_dir": profile.config_dir,
        "logged_in": _logged_in(profile),
        "scrub_subprocess_env": profile.scrub_subprocess_env,
        "fallback": profile.fallback,
        "secret_stored_at": profile.secret_stored.isoformat() if profile.secret_stored else None,
        "secret_age_days": _age_days(profile),
    }


def _age_days(profile: Profile) -> float | None:
    import time

    from ccgate.health_check import secret_age_days

    age = secret_age_days(profile, time.time())
    return None if age is None else round(age, 2)


def _age_text(days: float) -> str:
    """`today`, `3 d`, `5 mo`: how long ago a secret was stored."""
    if days < 1:
        return "today"
    if days < 60:
        return f"{int(days)} d"
    return f"{int(days // 30.44)} mo"


def _logged_in(profile: Profile) -> bool | None:
    """Whether the profile's config dir holds a Claude Code login: the file exists; never read."""
    login = profile.login_file()
    return login.is_file() if login else None


SECRET_MARKS = {True: "✓", False: "✗ missing", None: "-"}


@profile_app.command("list", epilog="Example: ccgate profile list --json")
def list_(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """List profiles: kind, base URL, whether the secret is stored (and how long ago), which is active here.

    secret_stored (JSON) is null for kinds without a secret and when the keyring cannot be read;
    secret_stored_at and secret_age_days are null for secrets stored before ccgate kept the date.
    """
    config = load()
    active = active_profile()
    profiles = all_profiles(config)
    states, unreadable = profile_changes.secret_states(config, profiles)
    if unreadable:
        warn(unreadable)
    rows = [_describe(config, p, states[p.name], active) for p in profiles]
    if json_out:
        print_json(rows)
        return
    if not rows:
        print("no profiles yet; add one with `ccgate profile add NAME --kind max-oauth`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    fallbacks = any(r["fallback"] for r in rows)
    for col in ("", "name", "kind", "base URL", "secret", "login", *(["fallback"] * fallbacks)):
        table.add_column(col)
    for r in rows:
        unknown = r["secret_stored"] is None and r["kind"] in KINDS_WITH_SECRET
        secret = "? (keyring unreadable)" if unknown else SECRET_MARKS[r["secret_stored"]]
        if r["secret_stored"] and r["secret_age_days"] is not None:
            secret += f" {_age_text(r['secret_age_days'])}"  # how long ago it was stored
        login = {True: "✓", False: "✗ none yet", None: "-"}[r["logged_in"]]
        cells = ["*" if r["active"] else "", r["name"], r["kind"], r["base_url"] or "-", secret, login]
        table.add_row(*cells, *([r["fallback"] or "-"] * fallbacks))
    Console().print(table)


@profile_app.command("show", epilog="Example: ccgate profile show max")
def show(
    name: str = typer.Argument(..., help="Profile to show.", autocompletion=complete_profile),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show one profile, its secret masked to a short prefix."""
    config = load()
    profile = get_profile(config, name)
    info = _describe(config, profile, None, active_profile())
    stored = store_for(config).get(name) if profile.needs_secret else None
    info["secret_stored"] = bool(stored) if profile.needs_secret else None
    info["secret"] = mask(stored) if stored else None
    info["headers"] = profile.headers
    info["env"] = profile.env
    if json_out:
        print_json(info)
        return
    for key, value in info.items():
        if value in (None, [], {}, False) and key not in ("secret_stored",):
            continue
        if isinstance(value, list):
            value = "; ".join(value)
        elif isinstance(value, dict):
            value = " ".join(f"{k}={v}" for k, v in value.items())
        print(f"{key:18} {value}")


@profile_app.command("rm", epilog="Example: ccgate profile rm old-key")
def rm(
    name: str = typer.Argument(..., help="Profile to delete, with its stored secret.", autocompletion=complete_profile),
    delete_config_dir: bool = typer.Option(
        False, "--delete-config-dir", help="Also delete its Claude Code config dir (and the login in it)."
    ),
) -> None:
    """Delete a profile and its keyring entry; its Claude Code config dir stays unless asked."""
    with editing() as config:
        profile = profile_changes.remove(config, name)
    print(f"removed profile {name!r}")
    if profile.config_dir and Path(profile.config_dir).exists():
        if delete_config_dir:
            import shutil

            shutil.rmtree(profile.config_dir)
            print(f"deleted config dir {profile.config_dir}")
        else:
            print(f"kept config dir {profile.config_dir} (--delete-config-dir removes it)")


@profile_app.command("rename", epilog="Example: ccgate profile rename max max-work")
def rename(
    old: str = typer.Argument(..., help="Current name.", autocompletion=complete_profile),
    new: str = typer.Argument(..., help="New name."),
) -> None:
    """Rename a profile; its secret moves with it."""
    validate_name(new)
    with editing() as config:
        profile_changes.rename(config, old, new)
    print(f"renamed profile {old!r} to {new!r}")


@profile_app.command("check", epilog="Example: ccgate profile check max api --json")
def check(
    names: list[str] | None = typer.Argument(
        None, help="Profiles to check (default: all).", autocompletion=complete_profile
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Make one free request per profile (count_tokens) with its real credential; exit 1 on any failure.

    Answers: works, rejected (401/403), wrong_route (billed as the other kind), unreachable, error.
    """
    from ccgate.health_check import check_profiles

    config = load()
    results = check_profiles(config, list(names or []), store_for(config))
    if json_out:
        print_json([r.to_dict() for r in results])
    elif not results:
        print("no profiles yet; add one with `ccgate profile add NAME --kind max-oauth`")
    for r in results if not json_out else []:
        mark = "ok  " if not r.failed else "FAIL"
        print(f"{mark}  {r.profile} ({r.kind}): {r.result}: {r.detail}")
        if r.fix and r.result != "works":
            print(f"      fix: {r.fix}")
    if any(r.failed for r in results):
        raise typer.Exit(1)


@profile_app.command("import", epilog="Example: ccgate profile import work  (with ANTHROPIC_API_KEY set)")
def import_(
    name: str = typer.Argument(..., help="Name for the new profile."),
    kind: str | None = KindOpt,
    insecure_storage: bool = InsecureOpt,
) -> None:
    """Create a profile from the Claude Code variables set in this environment."""
    validate_name(name)
    profile, creds = import_from_environment(name, os.environ, kind)
    with editing() as config:
        _warn(profile_changes.add(config, profile, creds.secret, insecure=insecure_storage).warnings)
    print(f"imported profile {name!r} ({profile.kind})")


@profile_app.command("default", epilog="Example: ccgate profile default max")
def default(
    name: str = typer.Argument(
        "", help="Profile the forwarder uses for requests without /p/NAME.", autocompletion=complete_profile
    ),
) -> None:
    """Set (or with no name, clear) the forwarder's default profile."""
    with editing() as config:
        profile_changes.set_default(config, name or None)
    print(f"default profile: {name or '(none: Anthropic, credentials as sent)'}")


__all__ = ["ProfileNotFound", "register"]
