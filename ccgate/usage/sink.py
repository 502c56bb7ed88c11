"""Where the forwarder hands finished exchanges: the seam between gateway/ and usage/.

The forwarder calls `submit` once per exchange (finished, failed or aborted) on the
event loop; a sink must return at once and never block. `ccgate.usage.writer.UsageWriter`
is the real one (queue, batch, SQLite off the loop); `NullSink` serves `--no-log`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ccgate.usage.model import Exchange, UsageRecord

Listener = Callable[[UsageRecord], None]


class Sink(Protocol):
    async def start(self) -> None: ...

    def submit(self, exchange: Exchange) -> None: ...

    def health(self) -> dict[str, Any]: ...

    def add_listener(self, callback: Listener) -> None:
        """`callback` gets each record once it is built (the dashboard's feed, the metrics)."""

    async def close(self) -> None: ...


class NullSink:
    """Logging off: counts what it was handed so that health still says something true."""

    def __init__(self) -> None:
        self.submitted = 0

    async def start(self) -> None:
        return None

    def submit(self, exchange: Exchange) -> None:
        self.submitted += 1

    def health(self) -> dict[str, Any]:
        return {"enabled": False, "submitted": self.submitted, "backlog": 0, "dropped": 0}

    def add_listener(self, callback: Listener) -> None:
        return None  # no records are built, so nobody is told of one

    async def close(self) -> None:
        return None
