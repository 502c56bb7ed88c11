"""A request ccgate answers itself: the error it raises inside the gateway."""

from __future__ import annotations


class Refused(Exception):
    """A request ccgate answers itself, in Anthropic's error shape; nothing goes upstream."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
