"""Run a command on a real pseudo-terminal: for what ccgate does when a person types at it."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import termios
import time
from dataclasses import dataclass, field


@dataclass
class Terminal:
    """A process whose stdin, stdout and stderr are one pty; `expect` waits for text to appear."""

    proc: subprocess.Popen[bytes]
    master: int
    output: bytearray = field(default_factory=bytearray)

    @classmethod
    def start(cls, argv: list[str], env: dict[str, str] | None = None, columns: int = 80) -> Terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        if env is not None:
            env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}  # the pty's size decides
        proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True, close_fds=True
        )
        os.close(slave)
        return cls(proc, master)

    def _read_some(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the other side closed
            return False
        self.output.extend(chunk)
        return bool(chunk)

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read_some(left) and self.proc.poll() is not None):
                raise AssertionError(f"{text!r} never appeared; the terminal shows {self.text()!r}")

    def expect_no_echo(self, timeout: float = 30.0) -> None:
        """Wait until the program has turned the terminal's echo off. `read -s` prints its prompt
        first and turns echo off after it, so a reply sent on seeing the prompt alone can be echoed
        on a busy machine (a person does not type that fast)."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            if time.monotonic() > deadline:
                raise AssertionError(f"echo was never turned off; the terminal shows {self.text()!r}")
            self._read_some(0.01)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def interrupt(self) -> None:
        """Ctrl-C as a terminal delivers it: SIGINT to the foreground process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 30.0) -> int:
        """Read everything until the process ends; its exit status."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._read_some(0.2)
        while self._read_some(0.05):
            pass
        code = self.proc.wait(timeout=max(deadline - time.monotonic(), 1))
        os.close(self.master)
        return code

    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")
