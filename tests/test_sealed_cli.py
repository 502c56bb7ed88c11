"""Sealed handles on the shell side: minted, exported instead of the secret, stored as hashes."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from ccgate import sealed
from tests.conftest import Runner

SECRETS = {
    "max": ("max-oauth", "sk-ant-oat01-" + "M" * 40),
    "key": ("api-key", "sk-ant-api03-" + "K" * 40),
    "lite": ("litellm-key", "sk-litellm-" + "L" * 30),
}
ENV_VAR = {"max": "CLAUDE_CODE_OAUTH_TOKEN", "key": "ANTHROPIC_API_KEY", "lite": "ANTHROPIC_AUTH_TOKEN"}


@pytest.fixture
def profiles(ccgate: Runner) -> None:
    for name, (kind, secret) in SECRETS.items():
        extra = ["--base-url", "http://127.0.0.1:9/lite"] if kind == "litellm-key" else []
        ccgate("profile", "add", name, "--kind", kind, "--secret-stdin", *extra, input=secret)


def _exports(out: str) -> dict[str, str]:
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines() if line.startswith("export "))
    return {k: v.strip("'") for k, v in pairs}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_use_sealed_exports_a_handle_not_the_secret(
    profiles: None, ccgate: Runner, name: str, ccgate_dirs: Path
) -> None:
    out = ccgate("use", name, "--sealed", "--shell", "bash").stdout
    assert SECRETS[name][1] not in out
    exported = _exports(out)
    handle = exported[ENV_VAR[name]]
    assert sealed.looks_sealed(handle) and handle.startswith(sealed.KIND_PREFIX[SECRETS[name][0]])
    assert exported["ANTHROPIC_BASE_URL"].endswith(f"/p/{name}")  # --sealed implies --gate
    for path in ccgate_dirs.rglob("*"):
        if path.is_file():
            assert handle.encode() not in path.read_bytes(), path
    with sealed.opened() as conn:
        status, found = sealed.check(conn, handle, name, ttl_s=86400)
    assert status == "ok" and found is not None and found.id == exported["CCGATE_SEALED"]


def test_exec_sealed_environ_holds_no_secret(profiles: None, ccgate: Runner) -> None:
    dump = "import os; print(open(f'/proc/{os.getpid()}/environ', 'rb').read().decode(errors='replace'))"
    environ = ccgate("exec", "max", "--sealed", "--", sys.executable, "-c", dump).stdout
    assert SECRETS["max"][1] not in environ and "ccgate-sealed-" in environ


def test_off_revokes_the_shells_handle(profiles: None, ccgate: Runner) -> None:
    exported = _exports(ccgate("use", "key", "--sealed", "--shell", "bash").stdout)
    ccgate("off", "--shell", "bash", env={"CCGATE_SEALED": exported["CCGATE_SEALED"]})
    with sealed.opened() as conn:
        assert sealed.check(conn, exported["ANTHROPIC_API_KEY"], "key", ttl_s=86400)[0] == "revoked"


def test_list_and_revoke(profiles: None, ccgate: Runner) -> None:
    ids = [_exports(ccgate("use", n, "--sealed", "--shell", "bash").stdout)["CCGATE_SEALED"] for n in ("max", "key")]
    listed = json.loads(ccgate("sealed", "list", "--json").stdout)
    assert [h["id"] for h in listed] == ids and all("handle" not in h for h in listed)
    ccgate("sealed", "revoke", ids[0])
    assert [h["id"] for h in json.loads(ccgate("sealed", "list", "--json").stdout)] == ids[1:]
    assert ccgate("sealed", "revoke", ids[0], check=False).returncode == 1
    ccgate("sealed", "revoke", "--all")
    assert json.loads(ccgate("sealed", "list", "--json").stdout) == []


def test_handles_expire_when_unused(profiles: None, ccgate: Runner) -> None:
    exported = _exports(ccgate("use", "max", "--sealed", "--shell", "bash").stdout)
    handle = exported["CLAUDE_CODE_OAUTH_TOKEN"]
    with sealed.opened() as conn:
        status, found = sealed.check(conn, handle, "max", ttl_s=86400)
        assert status == "ok" and found is not None
        later = found.created + 2 * 86400
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=later)[0] == "expired"
        sealed.touch(conn, found.id, ttl_s=86400, now=later - 3600)
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=later)[0] == "ok"
        assert sealed.check(conn, handle, "key", ttl_s=86400, now=later)[0] == "wrong_profile"
        assert sealed.check(conn, handle + "x", "max", ttl_s=86400)[0] == "unknown"


def test_claude_login_cannot_be_sealed(ccgate: Runner) -> None:
    ccgate("profile", "add", "w", "--kind", "claude-login", "--own-config-dir")
    proc = ccgate("use", "w", "--sealed", check=False)
    assert proc.returncode == 1 and "no secret of ccgate's to seal" in proc.stderr


def test_use_sealed_without_a_stored_secret_fails_and_mints_nothing(ccgate: Runner, ccgate_dirs: Path) -> None:
    ccgate("profile", "add", "api", "--kind", "api-key", "--secret-stdin", input=SECRETS["key"][1])
    keyring = Path(ccgate_dirs / "test-keyring.json")
    keyring.write_text("{}")  # the secret is gone (deleted in the keyring app, another machine's config, ...)
    for args in (("use", "api", "--sealed", "--shell", "bash"), ("exec", "api", "--sealed", "--", "true")):
        proc = ccgate(*args, check=False)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr == (
            "ccgate: profile 'api' has no stored secret; set one with `ccgate profile edit api --secret`\n"
        )
    with sealed.opened() as conn:
        assert sealed.active(conn, 86400) == []


def test_revoke_all_counts_in_words(profiles: None, ccgate: Runner) -> None:
    assert ccgate("sealed", "revoke", "--all").stdout == "revoked 0 handles\n"
    ccgate("use", "key", "--sealed", "--shell", "bash")
    assert ccgate("sealed", "revoke", "--all").stdout == "revoked 1 handle\n"


def test_a_handle_lives_exactly_its_ttl_from_its_last_use(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    with sealed.opened(tmp_path / "sealed.db") as conn:
        handle_id, handle = sealed.mint(conn, "max", "max-oauth", "use", ttl_s=86400, now=t0)
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=t0 + 86400)[0] == "ok"
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=t0 + 86401)[0] == "expired"
        sealed.touch(conn, handle_id, ttl_s=86400, now=t0 + 100)
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=t0 + 86500)[0] == "ok"
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=t0 + 86501)[0] == "expired"


def test_raising_the_ttl_never_revives_an_expired_handle(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    with sealed.opened(tmp_path / "sealed.db") as conn:
        _, handle = sealed.mint(conn, "max", "max-oauth", "use", ttl_s=86400, now=t0)
        assert sealed.check(conn, handle, "max", ttl_s=86400, now=t0 + 2 * 86400)[0] == "expired"
        assert sealed.check(conn, handle, "max", ttl_s=30 * 86400, now=t0 + 2 * 86400)[0] == "expired"
        # ... while lowering it shortens the handles already out there.
        _, fresh = sealed.mint(conn, "max", "max-oauth", "use", ttl_s=30 * 86400, now=t0)
        assert sealed.check(conn, fresh, "max", ttl_s=3600, now=t0 + 3600)[0] == "ok"
        assert sealed.check(conn, fresh, "max", ttl_s=3600, now=t0 + 3601)[0] == "expired"


def test_handles_minted_before_deadlines_existed_follow_the_setting(tmp_path: Path) -> None:
    db = tmp_path / "sealed.db"
    t0 = 1_800_000_000.0
    with sqlite3.connect(db) as old:  # the table as the first release made it
        old.execute(
            "CREATE TABLE handles (id TEXT PRIMARY KEY, profile TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,"
            " purpose TEXT NOT NULL, created REAL NOT NULL, last_used REAL, revoked REAL)"
        )
        old.execute(
            "INSERT INTO handles VALUES ('0ld', 'max', ?, 'use', ?, NULL, NULL)",
            (sealed.hash_handle("sk-ant-oat01-ccgate-sealed-0ld-x"), t0),
        )
    with sealed.opened(db) as conn:
        assert sealed.check(conn, "sk-ant-oat01-ccgate-sealed-0ld-x", "max", ttl_s=86400, now=t0 + 86400)[0] == "ok"
        assert sealed.check(conn, "sk-ant-oat01-ccgate-sealed-0ld-x", "max", ttl_s=86400, now=t0 + 86401)[0] == (
            "expired"
        )
