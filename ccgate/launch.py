"""`ccgate exec`: run one command with a profile's environment, touching nothing global.

Without a sealed handle there is nothing to clean up afterwards, so ccgate replaces itself
with the command (exit status, signals and the terminal are then the command's own, as with
aws-vault's exec). With a sealed handle ccgate stays as the parent: it forwards signals,
waits, revokes the handle and exits with the command's status.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

from ccgate.errors import UsageError

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def child_environment(base: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, str]:
    env = dict(base)
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def default_command(env: Mapping[str, str]) -> list[str]:
    return [env.get("SHELL") or "/bin/sh"]


def resolve(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    if not argv:
        raise UsageError("nothing to run")
    path = shutil.which(argv[0], path=env.get("PATH"))
    if path is None:
        raise UsageError(f"command not found: {argv[0]}")
    return [path, *argv[1:]]


def replace_process(argv: Sequence[str], env: Mapping[str, str]) -> None:
    """Become the command (never returns)."""
    argv = resolve(argv, env)
    os.execve(argv[0], argv, dict(env))


def run_and_wait(argv: Sequence[str], env: Mapping[str, str], cleanup: Callable[[], None]) -> int:
    """Run the command as a child, forward signals to it, run `cleanup` when it ends."""
    argv = resolve(argv, env)
    proc = subprocess.Popen(argv, env=dict(env))
    previous = {sig: signal.signal(sig, lambda s, _f: _forward(proc, s)) for sig in FORWARDED_SIGNALS}
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        cleanup()
    return 128 - code if code < 0 else code


def _forward(proc: subprocess.Popen[bytes], sig: int) -> None:
    # A signal sent to the whole process group reaches the child directly as well; forwarding
    # it again is harmless for the signals listed (the child handles or dies on the first).
    if proc.poll() is None:
        proc.send_signal(sig)
