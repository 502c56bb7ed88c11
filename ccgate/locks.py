"""An exclusive lock file beside a file that several ccgate processes read, change and write back.

`fcntl.flock` is released by the kernel when the holder exits, however it exits, so a killed
ccgate never leaves a stale lock behind. ccgate supports Linux and macOS; where `fcntl` does not
exist (Windows) the lock is a no-op rather than a crash at import.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ccgate.paths import ensure_private_dir


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600) for the duration of the block."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows is not a supported platform
        yield
        return
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def lock_file_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")
