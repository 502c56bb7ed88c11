"""The profile use-cases (ccgate/profile_changes.py) on their own, without the CLI around them."""

from __future__ import annotations

import pytest

from ccgate import paths, profile_changes
from ccgate.config import Config, editing, load_config
from ccgate.errors import UsageError
from ccgate.profile_changes import Changes
from ccgate.profiles import Profile
from ccgate.secrets import open_store

MAX_TOKEN = "sk-ant-oat01-" + "m" * 40
LITELLM_KEY = "sk-litellm-" + "k" * 20
API_KEY = "sk-ant-api03-" + "a" * 40


def _add(name: str, kind: str, secret: str | None, **changes: object) -> None:
    profile = Profile(name=name, kind=kind)
    profile_changes.apply(profile, Changes(**changes))  # type: ignore[arg-type]
    with editing() as config:
        profile_changes.add(config, profile, secret, insecure=False)


def _config() -> Config:
    return load_config(paths.config_file())


def test_a_rename_takes_the_secret_riders_fallbacks_budget_and_default_along() -> None:
    _add("max", "max-oauth", MAX_TOKEN)
    _add("gw", "litellm-key", LITELLM_KEY, base_url="https://gw.example", via_max="max")
    _add("api", "api-key", API_KEY)
    with editing() as config:
        profile_changes.edit(config, "max", Changes(fallback="api"), None, insecure=False)
        profile_changes.set_default(config, "api")
    with editing() as config:
        config.data["budgets"] = {"api": {"day": 5}}
        config.save()
    with editing() as config:
        profile_changes.rename(config, "api", "key")
    config = _config()
    store = open_store(config.settings)
    assert store.get("key") == API_KEY and store.get("api") is None
    assert config.profiles["max"]["fallback"] == "key"
    assert config.profiles["gw"]["via_max"] == "max"
    assert config.settings.default_profile == "key"
    assert config.data["budgets"] == {"key": {"day": 5}}
    with editing() as config:
        profile_changes.rename(config, "max", "sub")
    config = _config()
    assert config.profiles["gw"]["via_max"] == "sub"
    assert open_store(config.settings).get("sub") == MAX_TOKEN


def test_a_profile_that_cannot_be_written_takes_its_new_secret_back(monkeypatch: pytest.MonkeyPatch) -> None:
    _add("max", "max-oauth", MAX_TOKEN)

    def disk_full(self: Config) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(Config, "save", disk_full)
        with editing() as config, pytest.raises(UsageError, match=r"cannot write .*: No space left on device"):
            profile_changes.add(config, Profile(name="api", kind="api-key"), API_KEY, insecure=False)
    config = _config()
    assert "api" not in config.profiles
    assert open_store(config.settings).get("api") is None
    assert open_store(config.settings).get("max") == MAX_TOKEN  # what was stored before stays


def test_a_profile_something_refers_to_is_not_removed() -> None:
    _add("max", "max-oauth", MAX_TOKEN)
    _add("gw", "litellm-key", LITELLM_KEY, base_url="https://gw.example", via_max="max")
    with editing() as config, pytest.raises(UsageError, match=r"profile gw rides on 'max' \(--via-max\)"):
        profile_changes.remove(config, "max")
    assert open_store(_config().settings).get("max") == MAX_TOKEN
    with editing() as config:
        removed = profile_changes.remove(config, "gw")
    assert removed.via_max == "max"
    assert "gw" not in _config().profiles and open_store(_config().settings).get("gw") is None


def test_via_max_must_name_a_max_oauth_profile_and_only_a_litellm_key_may_ride() -> None:
    _add("api", "api-key", API_KEY)
    with pytest.raises(UsageError, match="--via-max 'api' is not a max-oauth profile"):
        _add("gw", "litellm-key", LITELLM_KEY, base_url="https://gw.example", via_max="api")
    _add("max", "max-oauth", MAX_TOKEN)
    with pytest.raises(UsageError, match="--via-max applies to litellm-key profiles only"):
        _add("other", "api-key", API_KEY, via_max="max")
    assert set(_config().profiles) == {"api", "max"}


def test_warnings_are_returned_not_printed(capsys: pytest.CaptureFixture[str]) -> None:
    profile = Profile(name="api", kind="api-key")
    profile_changes.apply(profile, Changes(inject=True))
    with editing() as config:
        outcome = profile_changes.add(config, profile, "not-a-key", insecure=True)
    assert outcome.warnings == [
        "inject_credential is on for 'api': any local process or web page that reaches the forwarder's port "
        "can spend this secret",
        "secrets will be stored in a 0600 plaintext file, not the OS keyring",
        "this secret does not look like a api-key credential; stored anyway",
    ]
    assert capsys.readouterr() == ("", "")
