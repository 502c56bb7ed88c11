"""A keyring backend for tests: a JSON file named by $CCGATE_TEST_KEYRING.

It behaves like a real backend across processes (the CLI runs as real subprocesses),
without a D-Bus session. tests/test_secretservice.py covers the real Secret Service.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked, PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def _path(self) -> Path:
        return Path(os.environ["CCGATE_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        if os.environ.get("CCGATE_TEST_KEYRING_LOCKED"):
            raise KeyringLocked("Failed to unlock the collection!")
        try:
            return json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._path().write_text(json.dumps(data))
