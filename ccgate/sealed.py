"""Sealed credentials: local handles that stand in for a profile's secret.

`ccgate use NAME --sealed` exports a handle instead of the secret; only the forwarder turns
it back into the secret, and only for the profile it was minted for. Handles are random
(192 bits), shaped like the credential they stand for so Claude Code treats them the same
way, and stored only as SHA-256 hashes in `sealed.db` (state dir, 0600).

A handle minted for one process (`ccgate exec --sealed`) records that process (pid and, on
Linux, its start time, so a recycled pid is not mistaken for it) and dies with it: the
forwarder refuses it once the process is gone, however that process ended (kill -9 included).
Handles that are revoked, expired or orphaned are pruned.

Each handle carries its own deadline, set from `sealed_ttl_days` when it is minted or used: raising
the setting later lengthens only handles used after the change, never revives an expired one, and
lowering it shortens every handle at once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ccgate import paths
from ccgate.errors import UsageError
from ccgate.profiles import Credentials, Profile

MARK = "ccgate-sealed-"
# The kind's usual prefix first: Claude Code sends any CLAUDE_CODE_OAUTH_TOKEN value as an
# OAuth Bearer with the oauth beta, and tools that sniff prefixes see what they expect.
KIND_PREFIX = {"max-oauth": "sk-ant-oat01-", "api-key": "sk-ant-api03-", "litellm-key": "sk-"}
Status = Literal["ok", "unknown", "revoked", "expired", "wrong_profile", "ended"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handles (
    id TEXT PRIMARY KEY,
    profile TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    purpose TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL,
    revoked REAL
)
"""
# Added after the first release: the process a handle was minted for, and its own deadline.
_ADDED_COLUMNS = (("owner_pid", "INTEGER"), ("owner_start", "TEXT"), ("expires", "REAL"))
PRUNE_GRACE_S = 86400


@dataclass(slots=True, frozen=True)
class Handle:
    id: str
    profile: str
    purpose: str
    created: float
    last_used: float | None
    revoked: float | None
    owner_pid: int | None = None
    owner_start: str | None = None
    expires: float | None = None  # None: minted before handles carried a deadline

    def deadline(self, ttl_s: float) -> float:
        """The earlier of the deadline set at its last use and the current setting's."""
        current = (self.last_used or self.created) + ttl_s
        return current if self.expires is None else min(self.expires, current)

    def expired(self, ttl_s: float, now: float) -> bool:
        return now > self.deadline(ttl_s)

    def owner_gone(self) -> bool:
        return self.owner_pid is not None and not process_alive(self.owner_pid, self.owner_start)


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return stat.rpartition(")")[2].split()


def process_start(pid: int) -> str | None:
    """When `pid` started (clock ticks since boot); None where there is no /proc."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def process_alive(pid: int, start: str | None) -> bool:
    """Whether the process `pid` that started at `start` still runs (an exited, unreaped zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else: only a recycled pid can be that
    fields = _proc_stat(pid)
    if fields is None:
        return start is None  # no /proc (macOS): the signal check is all there is
    return fields[0] != "Z" and (start is None or fields[19] == start)


def db_path() -> Path:
    return paths.state_dir() / "sealed.db"


def connect(path: Path | None = None) -> sqlite3.Connection:
    path = path or db_path()
    paths.ensure_private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    conn = sqlite3.connect(path, timeout=5, isolation_level=None)
    conn.execute(_SCHEMA)
    present = {row[1] for row in conn.execute("PRAGMA table_info(handles)")}
    for name, decl in _ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE handles ADD COLUMN {name} {decl}")
    return conn


@contextmanager
def opened(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def looks_sealed(value: str) -> bool:
    """A cheap test the forwarder runs on every credential header value."""
    return MARK in value


def hash_handle(handle: str) -> str:
    return hashlib.sha256(handle.encode()).hexdigest()


def mint(
    conn: sqlite3.Connection,
    profile: str,
    kind: str,
    purpose: str,
    ttl_s: float,
    owner_pid: int | None = None,
    now: float | None = None,
) -> tuple[str, str]:
    """A new handle for `profile` that lives `ttl_s` unused: (id, handle). Only its hash is stored.
    With `owner_pid` it dies with that process."""
    now = time.time() if now is None else now
    handle_id = secrets.token_hex(4)
    handle = f"{KIND_PREFIX.get(kind, 'sk-')}{MARK}{handle_id}-{secrets.token_urlsafe(24)}"
    owner_start = process_start(owner_pid) if owner_pid is not None else None
    conn.execute(
        "INSERT INTO handles (id, profile, hash, purpose, created, owner_pid, owner_start, expires)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (handle_id, profile, hash_handle(handle), purpose, now, owner_pid, owner_start, now + ttl_s),
    )
    return handle_id, handle


def hand_over(conn: sqlite3.Connection, handle_id: str, pid: int) -> None:
    """The handle now lives as long as process `pid` (the command `exec` started), not its minter."""
    conn.execute("UPDATE handles SET owner_pid = ?, owner_start = ? WHERE id = ?", (pid, process_start(pid), handle_id))


def _row(row: tuple[Any, ...]) -> Handle:
    return Handle(*row)


_COLUMNS = "id, profile, purpose, created, last_used, revoked, owner_pid, owner_start, expires"


def check(
    conn: sqlite3.Connection, handle: str, profile: str, ttl_s: float, now: float | None = None
) -> tuple[Status, Handle | None]:
    """Whether `handle` may stand for `profile`'s secret on this request."""
    now = time.time() if now is None else now
    row = conn.execute(f"SELECT {_COLUMNS} FROM handles WHERE hash = ?", (hash_handle(handle),)).fetchone()
    if row is None:
        return "unknown", None
    found = _row(row)
    if found.revoked is not None:
        return "revoked", found
    if found.expired(ttl_s, now):
        return "expired", found
    if found.owner_gone():
        revoke(conn, found.id)
        return "ended", found
    if found.profile != profile:
        return "wrong_profile", found
    return "ok", found


def touch(conn: sqlite3.Connection, handle_id: str, ttl_s: float, now: float | None = None) -> None:
    """Record a use: the handle lives `ttl_s` from now."""
    now = time.time() if now is None else now
    conn.execute("UPDATE handles SET last_used = ?, expires = ? WHERE id = ?", (now, now + ttl_s, handle_id))


def revoke(conn: sqlite3.Connection, handle_id: str) -> bool:
    cur = conn.execute("UPDATE handles SET revoked = ? WHERE id = ? AND revoked IS NULL", (time.time(), handle_id))
    return cur.rowcount > 0


def revoke_all(conn: sqlite3.Connection) -> int:
    return conn.execute("UPDATE handles SET revoked = ? WHERE revoked IS NULL", (time.time(),)).rowcount


def active(conn: sqlite3.Connection, ttl_s: float, now: float | None = None) -> list[Handle]:
    now = time.time() if now is None else now
    rows = conn.execute(f"SELECT {_COLUMNS} FROM handles WHERE revoked IS NULL ORDER BY created").fetchall()
    return [h for h in map(_row, rows) if not h.expired(ttl_s, now) and not h.owner_gone()]


def prune(conn: sqlite3.Connection, ttl_s: float, now: float | None = None) -> int:
    """Revoke handles whose process is gone; forget revoked and expired ones after a grace period
    (their hashes are useless by then). Returns how many rows were deleted."""
    now = time.time() if now is None else now
    owned = conn.execute(f"SELECT {_COLUMNS} FROM handles WHERE revoked IS NULL AND owner_pid IS NOT NULL").fetchall()
    for handle in map(_row, owned):
        if handle.owner_gone():
            revoke(conn, handle.id)
    return conn.execute(
        "DELETE FROM handles WHERE revoked < ? OR COALESCE(last_used, created) < ? OR expires < ?",
        (now - PRUNE_GRACE_S, now - ttl_s - PRUNE_GRACE_S, now - PRUNE_GRACE_S),
    ).rowcount


def sealed_credentials(
    conn: sqlite3.Connection, profile: Profile, purpose: str, ttl_s: float, owner_pid: int | None = None
) -> tuple[str, Credentials]:
    """Mint a handle for `profile` and the Credentials that export it in place of the secret."""
    if not profile.needs_secret:
        raise UsageError(f"profile {profile.name!r} ({profile.kind}) has no secret of ccgate's to seal")
    handle_id, handle = mint(conn, profile.name, profile.kind, purpose, ttl_s, owner_pid)
    # One handle covers both secrets of a litellm-key profile riding on Max: the forwarder
    # knows which one to put back from the header the handle arrives in.
    return handle_id, Credentials(secret=handle, max_token=handle if profile.via_max else None)
