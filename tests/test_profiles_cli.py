"""`ccgate profile …` and the safety promises: secrets only in the store, 0600 files,
one-line errors, nothing already stored lost."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import Runner

OAT = "sk-ant-oat01-" + "Q" * 60
API = "sk-ant-api03-" + "Z" * 60


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _one_line_error(proc) -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("ccgate: ")
    assert "Traceback" not in proc.stderr


def test_secrets_never_reach_config_files(ccgate: Runner, ccgate_dirs: Path) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=OAT)
    ccgate("profile", "add", "work", "--kind", "api-key", "--secret-stdin", "--header", "X-A: b", input=API)
    ccgate("profile", "edit", "work", "--model", "claude-sonnet-5", "--secret-stdin", input=API + "X")
    ccgate("profile", "rename", "work", "job")
    ccgate("use", "max", "--shell", "bash")
    config_dir = ccgate_dirs / "config"
    files = _files(config_dir) + _files(ccgate_dirs / "state")
    assert files
    for path in files:
        data = path.read_bytes()
        assert b"QQQQQQQQ" not in data and b"ZZZZZZZZ" not in data, path
    cfg = config_dir / "config.toml"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert json.loads(Path(os.environ["CCGATE_TEST_KEYRING"]).read_text()) == {
        "ccgate/max": OAT,
        "ccgate/job": API + "X",
    }


def test_show_and_list_never_print_a_whole_secret(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=OAT)
    for args in (
        ("profile", "show", "max"),
        ("profile", "show", "max", "--json"),
        ("profile", "list"),
        ("profile", "list", "--json"),
    ):
        out = ccgate(*args).stdout
        assert "Q" * 8 not in out, args
    shown = json.loads(ccgate("profile", "show", "max", "--json").stdout)
    assert shown["secret"].startswith("sk-ant-oat01-QQ…")
    listed = json.loads(ccgate("profile", "list", "--json").stdout)
    assert listed[0]["secret_stored"] is True and listed[0]["kind"] == "max-oauth"


def test_list_marks_the_active_profile(ccgate: Runner) -> None:
    ccgate("profile", "add", "a", "--kind", "api-key", "--secret-stdin", input=API)
    ccgate("profile", "add", "b", "--kind", "api-key", "--secret-stdin", input=API)
    rows = json.loads(ccgate("profile", "list", "--json", env={"CCGATE_PROFILE": "b"}).stdout)
    assert [(r["name"], r["active"]) for r in rows] == [("a", False), ("b", True)]


def test_a_secret_that_does_not_look_right_is_stored_with_a_warning(ccgate: Runner) -> None:
    proc = ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=API)
    assert "does not look like a max-oauth credential" in proc.stderr


def test_malformed_config_is_reported_and_left_untouched(ccgate: Runner, ccgate_dirs: Path) -> None:
    cfg = ccgate_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    broken = b'[profiles.max]\nkind = "max-oauth"\nbase_url = "unterminated\n'
    cfg.write_bytes(broken)
    for args in (("use", "max"), ("profile", "list"), ("profile", "add", "x", "--kind", "api-key", "--secret-stdin")):
        proc = ccgate(*args, input=API, check=False)
        _one_line_error(proc)
        assert str(cfg) in proc.stderr and "line 3" in proc.stderr
    assert cfg.read_bytes() == broken


def test_hand_edits_and_unknown_keys_survive_a_rewrite(ccgate: Runner, ccgate_dirs: Path) -> None:
    cfg = ccgate_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[settings]\nfuture_option = "x"\n\n[profiles.hand]\nkind = "api-key"\n')
    ccgate("profile", "add", "new", "--kind", "api-key", "--secret-stdin", input=API)
    text = cfg.read_text()
    assert 'future_option = "x"' in text and "[profiles.hand]" in text and "[profiles.new]" in text


def test_unknown_profile_is_a_one_line_error(ccgate: Runner) -> None:
    for args in (
        ("use", "ghost"),
        ("token", "ghost"),
        ("profile", "show", "ghost"),
        ("profile", "rm", "ghost"),
        ("profile", "edit", "ghost", "--model", "m"),
    ):
        proc = ccgate(*args, check=False)
        _one_line_error(proc)
        assert "no profile named 'ghost'" in proc.stderr


@pytest.mark.parametrize("name", ["Max", "a b", "x" * 65, "..", "a/b", ""])
def test_invalid_names_are_refused(ccgate: Runner, name: str) -> None:
    _one_line_error(ccgate("profile", "add", name, "--kind", "api-key", "--secret-stdin", input=API, check=False))


def test_bad_options_are_one_line_errors(ccgate: Runner) -> None:
    cases = [
        ("profile", "add", "l", "--kind", "litellm-key", "--secret-stdin"),  # no base_url
        ("profile", "add", "x", "--kind", "nope", "--secret-stdin"),
        ("profile", "add", "x", "--kind", "api-key", "--header", "no colon", "--secret-stdin"),
        ("profile", "add", "x", "--kind", "api-key", "--env", "ANTHROPIC_API_KEY=x", "--secret-stdin"),
        ("profile", "add", "x", "--kind", "api-key", "--base-url", "ftp://x", "--secret-stdin"),
        (
            "profile",
            "add",
            "l",
            "--kind",
            "litellm-key",
            "--base-url",
            "http://l",
            "--via-max",
            "ghost",
            "--secret-stdin",
        ),
    ]
    for args in cases:
        _one_line_error(ccgate(*args, input=API, check=False))


def test_empty_secret_stores_nothing(ccgate: Runner, ccgate_dirs: Path) -> None:
    _one_line_error(ccgate("profile", "add", "x", "--kind", "api-key", "--secret-stdin", input="\n", check=False))
    assert json.loads(ccgate("profile", "list", "--json").stdout) == []


def test_secret_from_a_prompt_needs_a_terminal(ccgate: Runner) -> None:
    proc = ccgate("profile", "add", "x", "--kind", "api-key", input="", check=False)
    _one_line_error(proc)
    assert "--secret-stdin" in proc.stderr


def test_rm_deletes_profile_and_secret(ccgate: Runner) -> None:
    ccgate("profile", "add", "x", "--kind", "api-key", "--secret-stdin", input=API)
    ccgate("profile", "rm", "x")
    assert json.loads(Path(os.environ["CCGATE_TEST_KEYRING"]).read_text()) == {}
    _one_line_error(ccgate("use", "x", check=False))


def test_rm_refuses_a_max_profile_others_ride_on(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=OAT)
    ccgate(
        "profile",
        "add",
        "l",
        "--kind",
        "litellm-key",
        "--base-url",
        "http://l:4000",
        "--via-max",
        "max",
        "--secret-stdin",
        input="vk",
    )
    _one_line_error(ccgate("profile", "rm", "max", check=False))
    ccgate("profile", "rename", "max", "max2")
    assert json.loads(ccgate("profile", "show", "l", "--json").stdout)["via_max"] == "max2"
    assert "sk-ant-oat01-" in ccgate("use", "l", "--shell", "bash").stdout


def test_failing_keyring_gives_one_line_error(ccgate: Runner) -> None:
    ccgate("profile", "add", "x", "--kind", "api-key", "--secret-stdin", input=API)
    proc = ccgate("use", "x", env={"CCGATE_TEST_KEYRING_LOCKED": "1"}, check=False)
    _one_line_error(proc)
    assert "KeyringLocked" in proc.stderr and API not in proc.stderr


def test_no_keyring_backend_explains_the_fixes(ccgate: Runner, ccgate_dirs: Path) -> None:
    proc = ccgate(
        "profile",
        "add",
        "x",
        "--kind",
        "api-key",
        "--secret-stdin",
        input=API,
        check=False,
        env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
    )
    _one_line_error(proc)
    for fix in ("Secret Service", "PYTHON_KEYRING_BACKEND", "--insecure-storage"):
        assert fix in proc.stderr
    assert not (ccgate_dirs / "config" / "config.toml").exists()


def test_insecure_storage_is_explicit_and_0600(ccgate: Runner, ccgate_dirs: Path) -> None:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    proc = ccgate(
        "profile", "add", "x", "--kind", "api-key", "--secret-stdin", "--insecure-storage", input=API, env=env
    )
    assert "plaintext" in proc.stderr
    secrets = ccgate_dirs / "data" / "secrets.toml"
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert API in ccgate("use", "x", "--shell", "bash", env=env).stdout
    secrets.chmod(0o644)
    proc = ccgate("use", "x", env=env, check=False)
    _one_line_error(proc)
    assert "chmod 600" in proc.stderr


def test_import_from_environment(ccgate: Runner) -> None:
    env = {
        "ANTHROPIC_AUTH_TOKEN": "vk-123",
        "ANTHROPIC_BASE_URL": "http://gw:4000",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": "claude-sonnet-5[1m]",
    }
    ccgate("profile", "import", "gw", env=env)
    shown = json.loads(ccgate("profile", "show", "gw", "--json").stdout)
    assert shown["kind"] == "litellm-key" and shown["base_url"] == "http://gw:4000"
    assert shown["sonnet_model"] == "claude-sonnet-5[1m]"
    assert ccgate("token", "gw").stdout.strip() == "vk-123"
    both = {"ANTHROPIC_API_KEY": API, "CLAUDE_CODE_OAUTH_TOKEN": OAT}
    _one_line_error(ccgate("profile", "import", "two", env=both, check=False))
    ccgate("profile", "import", "two", "--kind", "max-oauth", env=both)
    assert ccgate("token", "two").stdout.strip() == OAT


def test_version_and_help_examples(ccgate: Runner) -> None:
    assert ccgate("--version").stdout.startswith("ccgate ")
    for args in (("use",), ("off",), ("token",), ("init",), ("profile", "add"), ("profile", "list")):
        assert "Example" in ccgate(*args, "--help").stdout, args
