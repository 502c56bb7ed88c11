"""`ccgate exec`: run one command with a profile's environment, touching nothing global.

Without a sealed handle there is nothing to clean up afterwards, so ccgate replaces itself
with the command (exit status, signals and the terminal are then the command's own, as with
aws-vault's exec). With a sealed handle ccgate stays as the parent: it forwards signals,
waits, revokes the handle and exits with the command's status.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from ccgate.errors import UsageError

# Signals relayed to the command when ccgate alone received them (`kill <ccgate pid>`).
RELAYED = {signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2}
# A signal sent to the whole process group (killpg, a closing terminal) reaches the command by
# itself; it is relayed only if the command is still running this long after ccgate got it.
RELAY_GRACE_S = 1.0


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


def replace_process(argv: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Become the command (never returns)."""
    argv = resolve(argv, env)
    os.execve(argv[0], argv, dict(env))


def run_and_wait(
    argv: Sequence[str],
    env: Mapping[str, str],
    cleanup: Callable[[], None],
    before_exec: Callable[[], None] = lambda: None,
) -> int:
    """Run the command as a child in ccgate's process group, relay signals, clean up after it.

    `before_exec` runs in the child, after the fork and before the command starts, so whatever it
    records about the child (its pid) is in place before the command can do anything. It is best
    effort: if it fails, the command still runs.

    Terminal signals (Ctrl-C, Ctrl-\\) reach the command from the terminal; ccgate ignores them
    rather than relaying a second copy (a second Ctrl-C quits Claude Code).
    """
    argv = resolve(argv, env)
    watched = RELAYED | {signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    try:
        proc = subprocess.Popen(argv, env=dict(env), preexec_fn=lambda: _in_child(old_mask, before_exec))
        ignored = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
        try:
            code = _wait_relaying(proc, watched)
        finally:
            for sig, handler in ignored.items():
                signal.signal(sig, handler)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        cleanup()
    return 128 - code if code < 0 else code


def _in_child(mask: set[int | signal.Signals], before_exec: Callable[[], None]) -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    # An exception here would stop the command from starting at all.
    with contextlib.suppress(Exception):
        before_exec()


def _wait_relaying(proc: subprocess.Popen[bytes], watched: set[signal.Signals]) -> int:
    pending: list[tuple[int, float]] = []
    while proc.poll() is None:
        if pending:
            remaining = pending[0][1] + RELAY_GRACE_S - time.monotonic()
            info = signal.sigtimedwait(watched, max(remaining, 0)) if remaining > 0 else None
        else:
            info = signal.sigwaitinfo(watched)
        if info is not None and info.si_signo != signal.SIGCHLD:
            pending.append((info.si_signo, time.monotonic()))
        now = time.monotonic()
        while pending and now - pending[0][1] >= RELAY_GRACE_S and proc.poll() is None:
            proc.send_signal(pending.pop(0)[0])
    return proc.wait()
