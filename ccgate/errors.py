"""One exception tree for everything ccgate reports to a person.

    CcgateError                 message reads "what failed: why; how to fix"
     ├── UsageError             bad arguments or input (exit 1)
     ├── ConfigError            config.toml unreadable or invalid (exit 1)
     ├── ProfileNotFound        (exit 1)
     ├── SecretStoreError       keyring or secrets file unusable (exit 1)
     └── GatewayError           the forwarder cannot start or be reached (exit 1)

The CLI prints `ccgate: <message>` on one line and exits with `exit_code`;
nothing below the CLI prints or exits.
"""

from __future__ import annotations


class CcgateError(Exception):
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(CcgateError):
    pass


class ConfigError(CcgateError):
    pass


class ProfileNotFound(CcgateError):
    def __init__(self, name: str, hint: str = "") -> None:
        # hint: "did you mean 'max'?" or "profile names are lowercase"
        joined = f"{hint} " if hint.endswith("?") else f"{hint}; " if hint else ""
        super().__init__(f"no profile named {name!r}; {joined}see `ccgate profile list`")
        self.name = name


class SecretStoreError(CcgateError):
    pass


class GatewayError(CcgateError):
    pass
