"""How fast `ccgate use NAME` (and `use --sealed`, `exec NAME -- true`) is against the floor
`python -c "import typer, keyring; keyring.get_keyring()"`.

    python bench/use_bench.py [--runs N]

With gnome-keyring and dbus installed, the benchmark runs itself inside a fresh D-Bus session
with an unlocked Secret Service, so both sides resolve the real SecretService backend (the
case that costs most). Otherwise it uses the 0600 file store and says so. Target: ratio ≤ 1.3.
Sealed `use` mints handles as it goes; `ccgate sealed revoke --all` in the temp state dir is
not needed: the whole temp tree is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import print_table, summary, time_command

FLOOR = [sys.executable, "-c", "import typer, keyring; keyring.get_keyring()"]
SECRET = b"sk-ant-oat01-" + b"b" * 90


def ccgate_argv() -> list[str]:
    script = Path(sys.executable).with_name("ccgate")
    return [str(script)] if script.exists() else [sys.executable, "-P", "-m", "ccgate"]


def in_secret_service() -> bool:
    return os.environ.get("CCGATE_BENCH_DBUS") == "1"


def reexec_under_dbus() -> None:
    tmp = tempfile.mkdtemp(prefix="ccgate-bench-xdg-")
    script = 'echo -n bench | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$@"'
    env = {**os.environ, "XDG_DATA_HOME": tmp, "CCGATE_BENCH_DBUS": "1"}
    env.pop("PYTHON_KEYRING_BACKEND", None)
    os.execvpe("dbus-run-session", ["dbus-run-session", "--", "sh", "-c", script, "sh", sys.executable, *sys.argv], env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if not in_secret_service() and shutil.which("dbus-run-session") and shutil.which("gnome-keyring-daemon"):
        reexec_under_dbus()
    root = Path(tempfile.mkdtemp(prefix="ccgate-bench-"))
    env = {**os.environ, **{f"CCGATE_{d.upper()}_DIR": str(root / d) for d in ("config", "data", "state")}}
    store = "Secret Service (gnome-keyring)" if in_secret_service() else "0600 file store (no Secret Service here)"
    if not in_secret_service():
        env["CCGATE_SECRET_STORE"] = "file"
    ccgate = ccgate_argv()
    subprocess.run(
        [*ccgate, "profile", "add", "max", "--kind", "max-oauth", "--secret-stdin"],
        input=SECRET,
        env=env,
        check=True,
        capture_output=True,
    )
    rows = []
    floor = summary(time_command(FLOOR, env, args.runs))
    rows.append(
        ["floor: import typer, keyring; get_keyring()", f"{floor[0] * 1000:.0f}", f"{floor[1] * 1000:.0f}", "1.00"]
    )
    for label, extra in (
        ("ccgate use max", ["use", "max", "--shell", "bash"]),
        ("ccgate use max --gate", ["use", "max", "--gate", "--shell", "bash"]),
        ("ccgate use max --sealed", ["use", "max", "--sealed", "--shell", "bash"]),
        ("ccgate exec max -- true", ["exec", "max", "--", "true"]),
        ("ccgate exec max --sealed -- true", ["exec", "max", "--sealed", "--", "true"]),
    ):
        t = summary(time_command([*ccgate, *extra], env, args.runs))
        rows.append([label, f"{t[0] * 1000:.0f}", f"{t[1] * 1000:.0f}", f"{t[1] / floor[1]:.2f}"])
    print(f"secret store: {store}; {args.runs} runs each; times in ms")
    print_table(["command", "min", "median", "ratio (median)"], rows)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
