"""Counted nouns and word lists in messages: "1 request", "2 requests", "A, B and C"."""

from __future__ import annotations

from collections.abc import Iterable


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`count` and `noun`, in the plural unless count is 1 ("1 request", "0 requests")."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def join_words(words: Iterable[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    items = list(words)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
