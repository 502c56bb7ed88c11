"""A request ccgate answers itself: the error it raises inside the gateway."""

from __future__ import annotations

from collections.abc import Mapping


class Refused(Exception):
    """A request ccgate answers itself, in Anthropic's error shape; nothing goes upstream.

    `headers` go on the answer too (a budget's refusal says `x-should-retry: false`)."""

    def __init__(self, status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})
