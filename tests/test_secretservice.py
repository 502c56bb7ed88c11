"""ccgate against a real Secret Service: gnome-keyring in its own D-Bus session.

The test starts the session itself (dbus-run-session + gnome-keyring-daemon with a fresh
XDG_DATA_HOME), so it does not depend on what ran before on the machine. .ci/run installs
gnome-keyring and dbus; the skip below is only for machines where they are absent.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NEEDED = ("dbus-run-session", "gnome-keyring-daemon")
pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in NEEDED), reason="gnome-keyring/dbus not installed (.ci/run installs them)"
)

OAT = "sk-ant-oat01-" + "S" * 50

SCRIPT = """
set -e
echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
ccgate() { "$PY" -P -m ccgate "$@"; }
printf '%s' "$SECRET" | ccgate profile add max --kind max-oauth --secret-stdin
echo "memo=$(cat "$CCGATE_STATE_DIR/keyring-backend")"
ccgate use max --shell bash | grep CLAUDE_CODE_OAUTH_TOKEN
ccgate profile list --json | grep -c '"secret_stored": true'
"$PY" -c 'import keyring; print("direct=" + keyring.get_password("ccgate", "max"))'
ccgate profile rm max
"$PY" -c 'import keyring; print("after-rm=" + str(keyring.get_password("ccgate", "max")))'
"""


def test_profile_round_trip_through_gnome_keyring(tmp_path: Path, ccgate_dirs: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path), PY=sys.executable, SECRET=OAT)
    proc = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "memo=keyring.backends.SecretService.Keyring" in lines
    assert f"export CLAUDE_CODE_OAUTH_TOKEN='{OAT}'" in lines
    assert "1" in lines
    assert f"direct={OAT}" in lines
    assert "after-rm=None" in lines
    # gnome-keyring encrypts its store: the token is not in any file it wrote, nor in ccgate's files.
    for path in [*tmp_path.rglob("*"), *ccgate_dirs.rglob("*")]:
        if path.is_file():
            assert OAT.encode() not in path.read_bytes(), path


# What runs inside the shell the README's headless recipe starts: store a secret, lock the keyring
# (a replaced daemon that was not given the password), list anyway, then run doctor's fix as printed.
INSIDE = """#!/bin/bash
set -e
ccgate() { "$PY" -P -m ccgate "$@"; }
printf '%s' "$SECRET" | ccgate profile add max --kind max-oauth --secret-stdin >/dev/null
echo "first=$(ccgate token max)"
gnome-keyring-daemon --replace --components=secrets </dev/null >/dev/null 2>&1
ccgate token max >/dev/null 2>&1 && echo "still unlocked" && exit 1
echo "list=$(ccgate profile list --json | tr -d ' \\n')"
ccgate doctor > "$WORK/doctor.txt" || true
fix=$(sed -n 's/^ *fix: .*from a terminal: //p' "$WORK/doctor.txt")
echo "fix=$fix"
eval "$fix"
echo "after=$(ccgate token max)"
"""


def _readme_recipe() -> str:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    return next(line.strip() for line in readme.splitlines() if line.strip().startswith("dbus-run-session -- "))


def test_the_readme_headless_recipe_and_doctors_unlock_work_as_written(tmp_path: Path, ccgate_dirs: Path) -> None:
    from ccgate.secrets import NO_KEYRING, UNLOCK_SECRET_SERVICE
    from tests.terminal import Terminal

    recipe = _readme_recipe()
    assert f"`{recipe}`" in NO_KEYRING  # the error message gives the same command
    inside = tmp_path / "inside.sh"
    inside.write_text(INSIDE)
    inside.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS")}
    env.update(
        XDG_DATA_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path), PY=sys.executable, SECRET=OAT, WORK=str(tmp_path),
        SHELL=str(inside),
    )  # fmt: skip
    term = Terminal.start(["sh", "-c", recipe], env=env)
    term.expect("keyring password: ")
    term.expect_no_echo()
    term.send(b"hunter2\r")  # a new keyring: this becomes its password
    term.expect("fix=")  # doctor's fix, run as printed next, asks again
    term.expect_no_echo()
    term.send(b"hunter2\r")
    assert term.finish(timeout=120) == 0, term.text()
    shown = term.text()
    assert "hunter2" not in shown  # read -s: never echoed
    assert f"first={OAT}" in shown and f"after={OAT}" in shown
    assert '"name":"max"' in shown and '"secret_stored":null' in shown  # listed although locked
    assert f"fix={UNLOCK_SECRET_SERVICE}" in shown
