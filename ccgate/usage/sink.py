"""Where the forwarder hands finished exchanges: the seam between gateway/ and usage/.

The forwarder calls `submit` once per exchange (finished, failed or aborted) on the
event loop; a sink must return at once and never block. `ccgate.usage.writer.UsageWriter`
is the real one (queue, batch, SQLite off the loop); `NullSink` serves `--no-log`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

from ccgate.usage.model import Exchange, UsageRecord

# A record and what it cost at list prices (None: no price known), priced once for every listener.
Listener = Callable[[UsageRecord, Decimal | None], None]
# Prices a batch of records (reports/pricing.RecordPricing); the sink stays free of the price data.
Pricing = Callable[[Sequence[UsageRecord]], list[Decimal | None]]


class Sink(Protocol):
    async def start(self) -> None: ...

    def submit(self, exchange: Exchange) -> None: ...

    def health(self) -> dict[str, Any]: ...

    def add_listener(self, callback: Listener) -> None:
        """`callback` gets each record and its price once its write was tried (the feed, the metrics, the budgets)."""

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
