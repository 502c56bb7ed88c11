"""Private files: written atomically (temp file + rename) and always mode 0600."""

from __future__ import annotations

import os
from pathlib import Path

from ccgate.paths import ensure_private_dir


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader sees the old or the new file, never half of one."""
    ensure_private_dir(path.parent)
    import tempfile  # (with shutil and random) only when writing: readers such as the status line never do

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
