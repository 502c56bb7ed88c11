"""Run rendered shell code in real shells and read back the exported environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

REAL_SHELLS = [s for s in ("bash", "zsh", "fish", "sh") if shutil.which(s)]
DUMP = f"{sys.executable} -c 'import os,json,sys; sys.stdout.write(json.dumps(dict(os.environ)))'"


def eval_in_shell(shell: str, code: str, env: dict[str, str], cwd: str | None = None) -> dict[str, str]:
    """Source `code` in a real `shell` started with `env`, then return the exported environment."""
    load = 'source "$CODE_FILE"; and ' if shell == "fish" else 'eval "$(cat "$CODE_FILE")" && '
    script = load + DUMP
    path = os.path.join(cwd or env.get("TMPDIR", "/tmp"), f"code.{os.getpid()}.{shell}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)
    try:
        args = [shell, "--no-config", "-c", script] if shell == "fish" else [shell, "-c", script]
        if shell == "zsh":
            args = ["zsh", "-f", "-c", script]
        proc = subprocess.run(args, capture_output=True, text=True, env={**env, "CODE_FILE": path}, timeout=30, cwd=cwd)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise AssertionError(f"{shell} failed ({proc.returncode}): {proc.stderr}")
    result = json.loads(proc.stdout)
    result.pop("CODE_FILE", None)
    return result
