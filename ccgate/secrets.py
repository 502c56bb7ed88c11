"""Where secrets live: the OS keyring (service "ccgate", user = profile name) by default,
or a 0600 plaintext file that a person opted into explicitly, never anything silent.

Resolving a keyring backend is most of what `ccgate use` costs (entry-point discovery, then
SecretService -> secretstorage -> cryptography), so the backend that worked last time is
remembered in the state dir and loaded directly; if it stops working, discovery runs again.
"""

from __future__ import annotations

import contextlib
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ccgate import paths
from ccgate.errors import SecretStoreError
from ccgate.fileio import write_private
from ccgate.locks import lock_file_for, locked

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

    from ccgate.config import Settings

SERVICE = "ccgate"
STORE_ENV = "CCGATE_SECRET_STORE"

# Works as written in any shell: asks for the keyring's password (a new keyring takes it as its
# own), unlocks a Secret Service in a fresh D-Bus session and starts your shell inside it.
# gnome-keyring-daemon --unlock reads the password on stdin; without it, it waits silently.
HEADLESS_RECIPE = (
    'dbus-run-session -- bash -c \'read -rsp "keyring password: " pw; echo; '
    'printf %s "$pw" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; unset pw; exec "$SHELL"\''
)
# Backends that keep secrets readable on disk (keyrings.alt's, installed as a dependency of some
# other tool): as good as a plaintext file, so ccgate never uses one silently.
PLAINTEXT_BACKENDS = frozenset(
    {
        "keyrings.alt.file.PlaintextKeyring",
        "keyrings.alt.Windows.RegistryKeyring",
        "keyrings.alt.multi.MultipartKeyringWrapper",
    }
)
PLAINTEXT_KEYRING = (
    "the keyring backend {backend} keeps secrets in plaintext on disk; start a Secret Service "
    "(see `ccgate doctor`), choose another with PYTHON_KEYRING_BACKEND, or opt in to ccgate's own "
    "0600 plaintext file with --insecure-storage"
)
NO_KEYRING = (
    "no usable keyring backend ({backend}); start a Secret Service with "
    f"`{HEADLESS_RECIPE}`, set PYTHON_KEYRING_BACKEND, or opt in to a 0600 plaintext file with --insecure-storage"
)


class KeyringLockedError(SecretStoreError):
    """The keyring exists but is locked: `doctor` names the command that unlocks it."""


# gnome-keyring reads the password on stdin; `--replace` hands the running session to an unlocked
# daemon. Through `bash -c` so it works as written from zsh and fish too.
UNLOCK_SECRET_SERVICE = (
    'bash -c \'read -rsp "keyring password: " pw; echo; '
    'printf %s "$pw" | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null\''
)
UNLOCK_MACOS = "security unlock-keychain ~/Library/Keychains/login.keychain-db"


def unlock_advice(backend: str) -> str:
    """How to unlock the keyring `backend` (a name as in KeyringStore.description) from a terminal."""
    if "SecretService" in backend or "libsecret" in backend:
        return f"log in to the desktop session, or from a terminal: {UNLOCK_SECRET_SERVICE}"
    if "macOS" in backend:
        return f"run `{UNLOCK_MACOS}`"
    return "unlock it with your keyring's own tool (or log in to the desktop session)"


class SecretStore(Protocol):
    @property
    def description(self) -> str: ...

    def ensure_usable(self) -> None: ...

    def get(self, name: str) -> str | None: ...

    def set(self, name: str, secret: str) -> None: ...

    def delete(self, name: str) -> None: ...


def open_store(settings: Settings) -> SecretStore:
    choice = os.environ.get(STORE_ENV) or settings.secret_store
    if choice == "file":
        return FileStore(paths.secrets_file())
    if choice != "keyring":
        raise SecretStoreError(f"{STORE_ENV}={choice!r}: expected 'keyring' or 'file'")
    return KeyringStore()


class KeyringStore:
    def __init__(self) -> None:
        self._backend: KeyringBackend | None = None
        self._from_memo = False

    @property
    def description(self) -> str:
        return f"keyring ({_backend_name(self.backend)})"

    @property
    def backend(self) -> KeyringBackend:
        if self._backend is None:
            self._backend, self._from_memo = _resolve_backend()
        return self._backend

    def ensure_usable(self) -> None:
        """Fail now, before anyone types a secret, when no keyring backend works."""
        _ = self.backend

    def get(self, name: str) -> str | None:
        secret: str | None = self._call("read", lambda kr: kr.get_password(SERVICE, name))
        return secret

    def set(self, name: str, secret: str) -> None:
        self._call("store", lambda kr: kr.set_password(SERVICE, name, secret))

    def delete(self, name: str) -> None:
        from keyring.errors import PasswordDeleteError

        def delete(kr: KeyringBackend) -> None:
            with contextlib.suppress(PasswordDeleteError):  # nothing stored: goal reached
                kr.delete_password(SERVICE, name)

        self._call("delete", delete)

    def _call(self, what: str, op):  # type: ignore[no-untyped-def]
        from keyring.errors import KeyringError, KeyringLocked

        backend = self.backend  # raises SecretStoreError itself when no backend works
        try:
            return op(backend)
        except KeyringError as exc:
            if self._from_memo:
                # The remembered backend may be stale (another session bus, say): rediscover once.
                _forget_remembered_backend()
                self._backend = None
                return self._call(what, op)
            if isinstance(exc, KeyringLocked):
                raise KeyringLockedError(
                    f"keyring could not {what} the secret: KeyringLocked: the keyring is locked; "
                    "unlock it (log in to the desktop session; `ccgate doctor` shows the terminal command)"
                ) from None
            raise SecretStoreError(
                f"keyring could not {what} the secret: {type(exc).__name__}: {exc}; see `ccgate doctor`"
            ) from None
        except Exception as exc:  # a broken D-Bus or backend raises anything
            raise SecretStoreError(
                f"keyring could not {what} the secret: {type(exc).__name__}; see `ccgate doctor`"
            ) from None


def _backend_name(backend: KeyringBackend) -> str:
    cls = type(backend)
    name = f"{cls.__module__.removeprefix('keyring.backends.')}.{cls.__name__}"
    # A chain (several backends installed, keyrings.alt say) is named with its members, so that
    # doctor's unlock advice can tell a Secret Service inside it.
    chain = getattr(backend, "backends", None)
    if isinstance(chain, list | tuple) and chain:
        name += f"({', '.join(_backend_name(member) for member in chain)})"
    return name


def _memo_file() -> Path:
    return paths.state_dir() / "keyring-backend"


def _resolve_backend() -> tuple[KeyringBackend, bool]:
    """The backend to use, and whether it came from the memo."""
    import keyring.core

    explicit = "PYTHON_KEYRING_BACKEND" in os.environ
    if not explicit:
        remembered = _load_remembered_backend()
        if remembered is not None:
            return remembered, True
    backend = keyring.core.get_keyring()
    if not _usable(backend):
        raise SecretStoreError(NO_KEYRING.format(backend=_backend_name(backend)))
    if plaintext := _plaintext_backend(backend):
        raise SecretStoreError(PLAINTEXT_KEYRING.format(backend=plaintext))
    if not explicit:
        _remember_backend(backend)
    return backend, False


def _usable(backend: KeyringBackend) -> bool:
    from keyring.backends import fail

    if isinstance(backend, fail.Keyring):
        return False
    try:
        return float(backend.priority) > 0
    except Exception:
        return False


def _load_remembered_backend() -> KeyringBackend | None:
    import keyring.core

    try:
        name = _memo_file().read_text().strip()
    except OSError:
        return None
    try:
        backend = keyring.core.load_keyring(name)
    except Exception:
        _forget_remembered_backend()
        return None
    return backend if _usable(backend) and not _plaintext_backend(backend) else None


def _plaintext_backend(backend: KeyringBackend) -> str | None:
    """The name of the plaintext backend that would hold the secret, if that is what `backend` is or
    (for a chain) what it writes to first."""
    chain = getattr(backend, "backends", None)
    first = chain[0] if isinstance(chain, list | tuple) and chain else backend
    cls = type(first)
    name = f"{cls.__module__}.{cls.__qualname__}"
    return name if name in PLAINTEXT_BACKENDS else None


def _remember_backend(backend: KeyringBackend) -> None:
    chain = getattr(backend, "backends", None)
    if isinstance(chain, list | tuple):
        # A chain (several backends installed) writes to its first backend: remember that one.
        if not chain:
            return
        backend = chain[0]
    cls = type(backend)
    with contextlib.suppress(OSError):  # only a speed-up
        write_private(_memo_file(), f"{cls.__module__}.{cls.__name__}\n".encode())


def _forget_remembered_backend() -> bool:
    try:
        _memo_file().unlink()
        return True
    except OSError:
        return False


class FileStore:
    """A 0600 TOML file of secrets, for machines without a keyring, chosen explicitly."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"plaintext file {path} (0600)"

    def ensure_usable(self) -> None:
        self._read()

    def _read(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        if st.st_mode & 0o077:
            raise SecretStoreError(
                f"{self.path} is readable by others (mode {st.st_mode & 0o777:o}); run `chmod 600 {self.path}`"
            )
        try:
            data = tomllib.loads(self.path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            # The message names only the position ("Invalid value (at line 3, column 7)"), never content.
            raise SecretStoreError(f"{self.path}: {exc}; fix the file by hand (ccgate will not overwrite it)") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise SecretStoreError(f"{self.path}: unreadable ({type(exc).__name__})") from None
        table = data.get("secrets", {})
        if not isinstance(table, dict):
            raise SecretStoreError(f"{self.path}: [secrets] must be a table; fix the file by hand")
        return {k: v for k, v in table.items() if isinstance(v, str)}

    def _write(self, secrets: dict[str, str]) -> None:
        import tomli_w

        write_private(self.path, tomli_w.dumps({"secrets": secrets}).encode())

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def set(self, name: str, secret: str) -> None:
        with locked(lock_file_for(self.path)):
            secrets = self._read()
            secrets[name] = secret
            self._write(secrets)

    def delete(self, name: str) -> None:
        with locked(lock_file_for(self.path)):
            secrets = self._read()
            if secrets.pop(name, None) is not None:
                self._write(secrets)


KNOWN_PREFIXES = ("sk-ant-oat01-", "sk-ant-api03-", "sk-ant-ort01-", "sk-")


def mask(secret: str) -> str:
    """A short, recognisable prefix of a secret, never enough to use it."""
    prefix = next((p for p in KNOWN_PREFIXES if secret.startswith(p)), "")
    shown = secret[: len(prefix) + 2] if len(secret) > len(prefix) + 8 else secret[: min(2, len(secret) // 4)]
    return f"{shown}… ({len(secret)} chars)"


# `claude setup-token` prints its token among several lines of text (and colour codes).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9][A-Za-z0-9_-]{15,}(?![A-Za-z0-9_-])")


def secret_from_text(text: str) -> str:
    """The secret in piped text: the one line there is, else the single token-shaped string.

    Raises ValueError (with the reason) when the text holds nothing usable or is ambiguous;
    the message never repeats the text.
    """
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    if not lines:
        raise ValueError("empty secret: nothing stored")
    if len(lines) == 1:
        return lines[0]
    tokens: list[str] = list(dict.fromkeys(_TOKEN.findall("\n".join(lines))))
    if len(tokens) == 1:
        return tokens[0]
    found = "no token-shaped string (sk-…)" if not tokens else f"{len(tokens)} token-shaped strings (sk-…)"
    raise ValueError(f"the piped text has {len(lines)} lines and {found}: pipe in only the secret")
