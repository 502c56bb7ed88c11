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


# --- config rewrites, concurrency, validation (issues 15 and 16) -------------------------------


def test_rewrites_keep_comments_and_key_order(ccgate: Runner, ccgate_dirs: Path) -> None:
    cfg = ccgate_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    original = (
        "# my ccgate setup\n"
        "[settings]\n"
        "port = 7500        # 7421 is taken on this box\n"
        "plan_monthly_usd = 200\n"
        "\n"
        "# the work account\n"
        '[profiles.zeta]\nkind = "claude-login"\nconfig_dir = "/tmp/zeta"\n'
        "\n"
        '[profiles.alpha]\nkind = "claude-login"   # home\nconfig_dir = "/tmp/alpha"\n'
    )
    cfg.write_text(original)
    ccgate("profile", "default", "zeta")
    assert cfg.read_text() == original.replace(
        "plan_monthly_usd = 200\n", 'plan_monthly_usd = 200\ndefault_profile = "zeta"\n'
    )
    ccgate("profile", "default")
    assert cfg.read_text() == original
    ccgate("profile", "edit", "alpha", "--model", "claude-sonnet-5")
    assert cfg.read_text() == original.replace(
        'config_dir = "/tmp/alpha"\n', 'config_dir = "/tmp/alpha"\nmodel = "claude-sonnet-5"\n'
    )


def _keyring() -> dict[str, str]:
    path = Path(os.environ["CCGATE_TEST_KEYRING"])
    return json.loads(path.read_text()) if path.exists() else {}


def _parallel(ccgate_args: list[list[str]], secrets: list[str]) -> list[int]:
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-P", "-m", "ccgate", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in ccgate_args
    ]
    for proc, secret in zip(procs, secrets, strict=True):
        proc.communicate(secret, timeout=120)
    return [p.returncode for p in procs]


def test_parallel_adds_keep_every_profile(ccgate: Runner, ccgate_dirs: Path) -> None:
    # The test keyring is a JSON file: its own writes race, so these go to the 0600 file store,
    # whose writes ccgate serialises like config.toml's.
    env_store = {"CCGATE_SECRET_STORE": "file"}
    os.environ.update(env_store)
    try:
        names = [f"p{i:02d}" for i in range(20)]
        codes = _parallel(
            [["profile", "add", n, "--kind", "api-key", "--secret-stdin"] for n in names],
            [f"{API}{i:02d}" for i in range(20)],
        )
        assert codes == [0] * 20
        listed = json.loads(ccgate("profile", "list", "--json").stdout)
        assert [r["name"] for r in listed] == names
        assert all(r["secret_stored"] for r in listed)
        stored = (ccgate_dirs / "data" / "secrets.toml").read_text()
        assert all(f'{n} = "{API}{n[1:]}"' in stored for n in names)
    finally:
        for key in env_store:
            del os.environ[key]


def test_two_parallel_adds_of_one_name_cannot_both_succeed(ccgate: Runner) -> None:
    codes = _parallel(
        [["profile", "add", "same", "--kind", "api-key", "--secret-stdin"]] * 2,
        [API + "1", API + "2"],
    )
    assert sorted(codes) == [0, 1]
    winner = API + str(codes.index(0) + 1)
    assert _keyring() == {"ccgate/same": winner}
    assert ccgate("token", "same").stdout.strip() == winner


def test_undecodable_option_bytes_are_a_one_line_error_and_store_nothing(ccgate_dirs: Path) -> None:
    import subprocess
    import sys

    argv = [sys.executable, "-P", "-m", "ccgate", "profile", "add", "x", "--kind", "api-key", "--secret-stdin"]
    proc = subprocess.run([*argv, "--model", b"claude-\xff\xfe"], input=API.encode(), capture_output=True)  # type: ignore[list-item]
    assert proc.returncode == 1
    assert proc.stderr.decode() == "ccgate: --model: the value is not valid UTF-8 text; type it again\n"
    assert _keyring() == {}
    assert not (ccgate_dirs / "config" / "config.toml").exists()


def test_output_under_the_c_locale_is_never_a_traceback(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", "--model", "modèle", input=OAT)
    ccgate("profile", "add", "vk", "--kind", "litellm-key", "--base-url", "http://l", "--secret-stdin", input="vk-ü")
    c_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    listed = ccgate("profile", "list", env=c_locale)
    assert "max" in listed.stdout and listed.stderr == ""
    shown = json.loads(ccgate("profile", "show", "max", "--json", env=c_locale).stdout)
    assert shown["model"] == "modèle"  # JSON escapes survive an ASCII terminal losslessly
    token = ccgate("token", "vk", env=c_locale, check=False)  # a secret must never come out changed
    _one_line_error(token)
    assert "encoding (ascii)" in token.stderr and "LANG=C.UTF-8" in token.stderr and token.stdout == ""
    use = ccgate("use", "max", "--shell", "bash", env=c_locale, check=False)
    if use.returncode == 0:  # shell code that is plain ASCII whatever the values
        assert use.stdout.isascii() and "Traceback" not in use.stderr
    else:
        _one_line_error(use)
        assert "encoding (ascii)" in use.stderr and use.stdout == ""


def test_a_deeply_nested_config_is_a_one_line_error(ccgate: Runner, ccgate_dirs: Path) -> None:
    cfg = ccgate_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    proc = ccgate("profile", "list", check=False)
    _one_line_error(proc)
    assert "nested too deeply" in proc.stderr


def _settings(ccgate_dirs: Path, line: str) -> None:
    cfg = ccgate_dirs / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"[settings]\n{line}\n")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("port = 0", "out of range: use 1-65535"),
        ("port = 65536", "out of range: use 1-65535"),
        ("port = 99999", "out of range: use 1-65535"),
        ("port = -5", "out of range: use 1-65535"),
        ('port = "7421"', "must be a whole number"),
        ("max_body_mib = 0", "out of range (MiB a request body may have): use 1-4096"),
        ("max_body_mib = -1", "out of range"),
        ("max_body_mib = 4097", "out of range"),
        ("max_body_mib = 1.5", "must be a whole number"),
        ("sealed_ttl_days = 0", "out of range (days a sealed handle lives unused)"),
        ("sealed_ttl_days = 3651", "out of range"),
        ("sealed_ttl_days = nan", "out of range"),
        ("idle_timeout_s = 0", "out of range"),
        ("idle_timeout_s = inf", "out of range"),
        ("plan_monthly_usd = -1", "out of range"),
        ('host = ""', "settings.host is empty"),
        ("allowed_origins = [1]", "must be a list of strings"),
        ("port = true", "must be a whole number"),
    ],
)
def test_bad_setting_values_are_refused(ccgate: Runner, ccgate_dirs: Path, line: str, why: str) -> None:
    _settings(ccgate_dirs, line)
    proc = ccgate("profile", "list", check=False)
    _one_line_error(proc)
    assert why in proc.stderr and "settings." in proc.stderr


@pytest.mark.parametrize(
    "line",
    [
        "port = 1",
        "port = 65535",
        "max_body_mib = 1",
        "max_body_mib = 4096",
        "sealed_ttl_days = 3650",
        "idle_timeout_s = 1",
    ],
)
def test_setting_values_at_the_ends_of_their_ranges_are_accepted(ccgate: Runner, ccgate_dirs: Path, line: str) -> None:
    _settings(ccgate_dirs, line)
    assert ccgate("profile", "list").returncode == 0


# --- secrets: where they come from, and when the store is unusable -------------------------------

SETUP_TOKEN_OUTPUT = (
    "\x1b[32m✓ Long-lived authentication token created successfully!\x1b[39m\n\n"
    "Your OAuth token (valid for 1 year):\n\n"
    f"\x1b[1m{OAT}\x1b[22m\n\n"
    "Store this token securely. You won't be able to see it again.\n\n"
    "Use this token by setting: export CLAUDE_CODE_OAUTH_TOKEN=<token>\n"
)


def test_secret_stdin_takes_the_token_from_setup_token_output(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=SETUP_TOKEN_OUTPUT)
    assert _keyring() == {"ccgate/max": OAT}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("some text\nno token here\n", "2 lines and no token-shaped string"),
        (f"{OAT}\n{API}\n", "2 lines and 2 token-shaped strings"),
        ("\n \n", "empty secret"),
    ],
)
def test_piped_text_without_exactly_one_token_stores_nothing(ccgate: Runner, text: str, why: str) -> None:
    proc = ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=text, check=False)
    _one_line_error(proc)
    assert why in proc.stderr and OAT not in proc.stderr
    assert _keyring() == {}


def test_a_single_line_secret_is_taken_whole(ccgate: Runner) -> None:
    ccgate(
        "profile", "add", "lite", "--kind", "litellm-key", "--base-url", "http://l", "--secret-stdin", input=" vk-1\n"
    )
    assert _keyring() == {"ccgate/lite": "vk-1"}


def _pty_ccgate(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    import sys

    from tests.terminal import Terminal

    return Terminal.start([sys.executable, "-P", "-m", "ccgate", *args], env={**os.environ, **(env or {})})


def test_no_keyring_fails_before_asking_for_the_secret() -> None:
    term = _pty_ccgate(
        "profile", "add", "x", "--kind", "api-key", env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    )
    code = term.finish()
    assert code == 1
    assert "secret for x" not in term.text()
    assert term.text().startswith("ccgate: no usable keyring backend")


def test_ctrl_d_at_the_hidden_prompt_is_a_one_line_error() -> None:
    term = _pty_ccgate("profile", "add", "x", "--kind", "api-key")
    term.expect("api-key secret for x: ")
    term.send(b"\x04")
    assert term.finish() == 1
    assert "Aborted" not in term.text()
    assert term.text().rstrip().endswith("ccgate: no secret entered (Ctrl-D): nothing stored")
    assert _keyring() == {}


def test_a_secret_typed_at_the_hidden_prompt_is_stored_unechoed() -> None:
    term = _pty_ccgate("profile", "add", "x", "--kind", "api-key")
    term.expect("api-key secret for x: ")
    term.send(API.encode() + b"\r")
    assert term.finish() == 0
    assert API not in term.text()
    assert _keyring() == {"ccgate/x": API}


def test_a_locked_keyring_does_not_block_listing(ccgate: Runner) -> None:
    ccgate("profile", "add", "a", "--kind", "api-key", "--secret-stdin", input=API)
    ccgate("profile", "add", "home", "--kind", "claude-login", "--own-config-dir")
    locked = {"CCGATE_TEST_KEYRING_LOCKED": "1"}
    proc = ccgate("profile", "list", env=locked)
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == ["a", "home"]
    assert "? (keyring unreadable)" in proc.stdout
    assert proc.stderr.count("\n") == 1 and "the keyring is locked" in proc.stderr
    rows = json.loads(ccgate("profile", "list", "--json", env=locked).stdout)
    assert [(r["name"], r["secret_stored"]) for r in rows] == [("a", None), ("home", None)]
    use = ccgate("use", "a", env=locked, check=False)
    _one_line_error(use)
    assert "see `ccgate doctor`" not in use.stderr.split("unlock it")[0]


def test_a_corrupt_secrets_file_names_the_line(ccgate: Runner, ccgate_dirs: Path) -> None:
    env = {"CCGATE_SECRET_STORE": "file"}
    ccgate("profile", "add", "x", "--kind", "api-key", "--secret-stdin", input=API, env=env)
    secrets = ccgate_dirs / "data" / "secrets.toml"
    secrets.write_text(f'[secrets]\nx = "{API}"\ny = "unterminated\n')
    proc = ccgate("use", "x", env=env, check=False)
    _one_line_error(proc)
    assert "line 3" in proc.stderr and str(secrets) in proc.stderr and API not in proc.stderr


# --- editing --------------------------------------------------------------------------------------


def test_empty_header_and_env_remove_them_as_documented(ccgate: Runner) -> None:
    ccgate(
        "profile",
        "add",
        "w",
        "--kind",
        "api-key",
        "--secret-stdin",
        "--header",
        "X-A: 1",
        "--env",
        "FOO=1",
        "--env",
        "BAR=2",
        input=API,
    )
    ccgate("profile", "edit", "w", "--env", "FOO=")
    assert json.loads(ccgate("profile", "show", "w", "--json").stdout)["env"] == {"BAR": "2"}
    ccgate("profile", "edit", "w", "--header", "", "--env", "")
    shown = json.loads(ccgate("profile", "show", "w", "--json").stdout)
    assert (shown["headers"], shown["env"]) == ([], {})
    ccgate("profile", "edit", "w", "--env", "", "--env", "NEW=3")
    assert json.loads(ccgate("profile", "show", "w", "--json").stdout)["env"] == {"NEW": "3"}


def test_list_and_show_json_agree_on_env(ccgate: Runner) -> None:
    ccgate("profile", "add", "a", "--kind", "api-key", "--secret-stdin", input=API)
    ccgate("profile", "add", "b", "--kind", "api-key", "--secret-stdin", "--env", "K=v", input=API)
    listed = {r["name"]: r["env"] for r in json.loads(ccgate("profile", "list", "--json").stdout)}
    assert listed == {"a": {}, "b": {"K": "v"}}
    assert json.loads(ccgate("profile", "show", "a", "--json").stdout)["env"] == {}


def test_bedrock_switches_may_be_set_with_env(ccgate: Runner) -> None:
    ccgate(
        "profile", "add", "b", "--kind", "api-key", "--secret-stdin", "--env", "CLAUDE_CODE_USE_BEDROCK=1", input=API
    )
    assert "export CLAUDE_CODE_USE_BEDROCK='1'" in ccgate("use", "b", "--shell", "bash").stdout
    for refused in ("ANTHROPIC_BASE_URL=x", "CLAUDE_CONFIG_DIR=/x", "ANTHROPIC_MODEL=m", "CCGATE_PROFILE=x"):
        proc = ccgate("profile", "edit", "b", "--env", refused, check=False)
        _one_line_error(proc)
        assert "use the matching option" in proc.stderr


def test_unknown_names_get_a_suggestion(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=OAT)
    typo = ccgate("use", "mxa", check=False)
    _one_line_error(typo)
    assert typo.stderr == "ccgate: no profile named 'mxa'; did you mean 'max'? see `ccgate profile list`\n"
    upper = ccgate("exec", "MAX", "--", "true", check=False)
    _one_line_error(upper)
    assert "profile names are lowercase; did you mean 'max'?" in upper.stderr
    far = ccgate("use", "Zzzzzz", check=False)
    assert far.stderr == "ccgate: no profile named 'Zzzzzz'; profile names are lowercase; see `ccgate profile list`\n"


def test_rm_names_one_rider_in_the_singular(ccgate: Runner) -> None:
    ccgate("profile", "add", "max", "--kind", "max-oauth", "--secret-stdin", input=OAT)
    for name in ("lmax", "lmax2"):
        ccgate(
            "profile", "add", name, "--kind", "litellm-key", "--base-url", "http://l", "--via-max", "max",
            "--secret-stdin", input="vk",
        )  # fmt: skip
        proc = ccgate("profile", "rm", "max", check=False)
        _one_line_error(proc)
    assert "profiles lmax and lmax2 ride on 'max'" in proc.stderr
    ccgate("profile", "rm", "lmax2")
    assert "profile lmax rides on 'max'" in ccgate("profile", "rm", "max", check=False).stderr


def test_the_injection_warning_is_given_once(ccgate: Runner) -> None:
    proc = ccgate("profile", "add", "k", "--kind", "api-key", "--inject-credential", "--secret-stdin", input=API)
    assert proc.stderr.count("inject_credential is on for 'k'") == 1
