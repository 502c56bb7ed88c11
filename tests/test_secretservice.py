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
ccgate() { "$PY" -m ccgate "$@"; }
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
