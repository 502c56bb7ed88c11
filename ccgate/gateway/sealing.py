"""The one place where a secret meets a request: injection and sealed-handle swaps.

Keyring calls block, so they run on one dedicated worker thread (with the sealed database
connection that writes). Secrets are cached per profile for a short time: a Secret Service
lookup costs tens of milliseconds, far more than forwarding a request. A handle is checked on
every request, on the event loop through a connection that never waits for a lock (~15 us);
only when the database is locked at that moment does the check go to the worker thread, whose
round trip costs several times that in CPU.

A handle found good is remembered (by its hash) for as long as nothing can have changed the
verdict: sealed.db unchanged since (its file change counter, which SQLite bumps with every
committed write in rollback-journal mode, read with one pread per request, ~1 us), the clock
before the handle's deadline, and no owner process to watch. A revoke, an edit, a touch or a
prune anywhere is a write, so the next request checks again through SQLite.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from ccgate import sealed
from ccgate.config import Config
from ccgate.errors import CcgateError
from ccgate.gateway.credentials import Decision, fingerprint, secret_headers
from ccgate.gateway.refused import Refused
from ccgate.profiles import Credentials, Profile, load_credentials
from ccgate.secrets import open_store

SECRET_TTL_S = 30.0
TOUCH_EVERY_S = 60.0
PRUNE_EVERY_S = 3600.0
REFUSAL = {
    "unknown": "unknown",
    "revoked": "revoked",
    "expired": "expired",
    "wrong_profile": "minted for another profile",
    "ended": "ended with the process it was minted for",
    "ok": "ok",
}
# Headers that may carry a handle, and how the value wraps it.
HANDLE_HEADERS = {"authorization": "Bearer ", "x-api-key": "", "x-litellm-api-key": "Bearer "}
# The SQLite header from its write-version byte (offset 18; 1 = rollback journal, 2 = WAL) through
# the file change counter (offsets 24-27, big-endian), bumped by every commit that writes the file.
_HEADER_AT, _HEADER_LEN = 18, 10
ROLLBACK_JOURNAL = 1
T = TypeVar("T")


@dataclass(slots=True)
class _Cached:
    creds: Credentials
    at: float


class _Verdicts:
    """Handles found good, valid while sealed.db's change counter stays where it was when they were."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._stamp: bytes | None = None
        self._good: dict[tuple[str, str, float], tuple[sealed.Handle, float]] = {}

    def open(self) -> None:
        """Opened with the loop's connection, so both read the same file (no pread, as on Windows: never)."""
        if self._fd is None and hasattr(os, "pread"):
            try:
                self._fd = os.open(sealed.db_path(), os.O_RDONLY)
            except OSError:
                self._fd = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._good.clear()

    def stamp(self) -> bytes | None:
        """The change counter now; None when it cannot vouch for anything (not open, unreadable, WAL)."""
        if self._fd is None:
            return None
        try:
            header = os.pread(self._fd, _HEADER_LEN, _HEADER_AT)
        except OSError:
            return None
        if len(header) < _HEADER_LEN or header[0] != ROLLBACK_JOURNAL:
            return None
        return header[6:]

    def get(self, key: tuple[str, str, float], now: float) -> sealed.Handle | None:
        stamp = self.stamp()
        if stamp is None or stamp != self._stamp:
            self._good.clear()
            self._stamp = stamp
            return None
        found = self._good.get(key)
        if found is None or now > found[1]:
            return None
        return found[0]

    def remember(self, key: tuple[str, str, float], found: sealed.Handle, stamp: bytes | None) -> None:
        """`stamp` was read before the check that found `found` good: a write since then is seen next time."""
        if stamp is None or stamp != self._stamp or found.owner_pid is not None:
            return  # an owner can end without a write: such handles are checked every time
        if len(self._good) >= 1024:
            self._good.clear()
        self._good[key] = (found, found.deadline(key[2]))


class SecretBroker:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccgate-secrets")
        self._secrets: dict[str, _Cached] = {}
        self._touched: dict[str, float] = {}
        self._conn: sqlite3.Connection | None = None
        self._loop_conn: sqlite3.Connection | None = None
        self._verdicts = _Verdicts()
        self._pruned = -PRUNE_EVERY_S

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def aclose(self) -> None:
        """On the event loop: its own connection here, the worker thread's off the loop."""
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None
        self._verdicts.close()
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        def shut() -> None:
            if self._conn is not None:
                self._conn.close()

        self._pool.submit(shut)
        self._pool.shutdown(wait=True)

    async def credentials(self, config: Config, profile: Profile) -> Credentials:
        cached = self._secrets.get(profile.name)
        if cached and time.monotonic() - cached.at < SECRET_TTL_S:
            return cached.creds
        try:
            creds = await self._run(lambda: load_credentials(config, profile, open_store(config.settings)))
        except CcgateError as exc:
            raise Refused(
                503,
                "api_error",
                f"ccgate: cannot read the secret of profile {profile.name!r}: {exc.message} "
                f"(unlock the keyring, or run `ccgate profile edit {profile.name} --secret`)",
            ) from None
        self._secrets[profile.name] = _Cached(creds, time.monotonic())
        return creds

    async def injected(self, config: Config, profile: Profile, headers: Mapping[str, str]) -> Decision:
        creds = await self.credentials(config, profile)
        out = secret_headers(profile, creds, headers.get("anthropic-beta"))
        return Decision(set_headers=out, kind="injected", fingerprint=_fp(out))

    async def unsealed(self, config: Config, profile: Profile | None, headers: Mapping[str, str]) -> Decision | None:
        """None when no header carries a handle; else the swap, or Refused."""
        handles = {name: value for name, value in _handle_values(headers)}
        if not handles:
            return None
        if profile is None:
            raise Refused(
                401, "authentication_error", "ccgate: a sealed handle works only on its profile's /p/NAME route"
            )
        ttl = config.settings.sealed_ttl_days * 86400
        for handle in set(handles.values()):
            status, found = await self._check(handle, profile.name, ttl)
            if status != "ok" or found is None:
                raise Refused(
                    401,
                    "authentication_error",
                    f"ccgate: sealed handle {REFUSAL[status]} (profile {profile.name!r}); "
                    f"run `ccgate use {profile.name} --sealed` (or `ccgate exec {profile.name} --sealed`) again",
                )
            await self._touch(found.id, ttl)
        creds = await self.credentials(config, profile)
        out = secret_headers(profile, creds, headers.get("anthropic-beta"))
        # A handle in a header the kind does not use is removed rather than forwarded.
        present = {key.lower() for key in out}
        for name in handles:
            if name not in present:
                out[name] = ""
        return Decision(set_headers=out, kind="sealed", fingerprint=_fp(out))

    async def _check(self, handle: str, profile: str, ttl: float) -> tuple[sealed.Status, sealed.Handle | None]:
        self._prune_when_due(ttl)
        key = (sealed.hash_handle(handle), profile, ttl)
        now = time.time()
        known = self._verdicts.get(key, now)
        if known is not None:
            return "ok", known
        stamp = self._verdicts.stamp()
        try:
            if self._loop_conn is None:
                self._loop_conn = sealed.connect()
                self._loop_conn.execute("PRAGMA busy_timeout = 0")
                self._verdicts.open()
            status, found = sealed.check(self._loop_conn, handle, profile, ttl, now)
        except sqlite3.OperationalError:  # locked by a writer right now: wait for it off the loop
            return await self._run(lambda: sealed.check(self._db(), handle, profile, ttl))
        if status == "ok" and found is not None:
            self._verdicts.remember(key, found, stamp)
        return status, found

    def _prune_when_due(self, ttl_s: float) -> None:
        """Revoked, expired and orphaned handles are pruned at the first check and then hourly, on the
        worker thread, so sealed.db does not grow forever."""
        now = time.monotonic()
        if now - self._pruned >= PRUNE_EVERY_S:
            self._pruned = now
            self._pool.submit(lambda: sealed.prune(self._db(), ttl_s))

    def _db(self) -> sqlite3.Connection:
        """The sealed database on the worker thread."""
        if self._conn is None:
            self._conn = sealed.connect()
        return self._conn

    async def _touch(self, handle_id: str, ttl_s: float) -> None:
        now = time.time()
        if now - self._touched.get(handle_id, 0.0) < TOUCH_EVERY_S:
            return
        self._touched[handle_id] = now
        await self._run(lambda: sealed.touch(self._db(), handle_id, ttl_s, now))


def _handle_values(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    found = []
    for name, prefix in HANDLE_HEADERS.items():
        value = headers.get(name)
        if value and sealed.looks_sealed(value):
            found.append((name, value[len(prefix) :] if prefix and value.startswith(prefix) else value))
    return found


def _fp(headers: Mapping[str, str]) -> str | None:
    value = headers.get("x-api-key") or headers.get("Authorization", "").partition(" ")[2]
    return fingerprint(value) if value else None
