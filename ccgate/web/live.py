"""The live feed: each finished request, pushed to every open dashboard over Server-Sent Events.

SSE rather than a WebSocket: the push is one-way, EventSource reconnects by itself, and it is a
plain GET the Host/Origin guard already understands. Each subscriber has a bounded queue: a
stalled browser tab loses feed lines (it can reload) instead of growing the forwarder's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

QUEUE_SIZE = 1000
STATE_S = 1.0  # in-flight and log-backlog figures, pushed at most this often and only when they change
HEARTBEAT_S = 15.0
FLUSH_S = 0.05  # finished requests are pushed at most this often, several per write
_CLOSE = object()


class LiveHub:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[object]] = set()

    def publish(self, item: dict[str, Any]) -> None:
        data = json.dumps(item, separators=(",", ":"))
        for q in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(data)

    def close(self) -> None:
        """Ask every open stream to end (server shutdown), so they do not hold the graceful stop."""
        for q in self._subscribers:
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(_CLOSE)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def stream(self, request: web.Request, state: Callable[[], dict[str, Any]]) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        # Subscribed before the headers go out: once the page sees the stream open, nothing is missed.
        q: asyncio.Queue[object] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._subscribers.add(q)
        loop = asyncio.get_running_loop()
        try:
            await resp.prepare(request)
            last_state = json.dumps(state())
            await resp.write(_event("state", last_state))
            last_write = state_at = loop.time()
            while True:
                try:
                    item: object | None = await asyncio.wait_for(q.get(), max(0.0, state_at + STATE_S - loop.time()))
                except TimeoutError:
                    item = None
                if item is not None and item is not _CLOSE:
                    # Under load records finish every few milliseconds: gather them and send one write
                    # per FLUSH_S rather than one per record (a person reads this, not a machine).
                    await asyncio.sleep(max(0.0, last_write + FLUSH_S - loop.time()))
                items = [item, *_drain(q)] if item is not None else []
                closing = _CLOSE in items
                out = [_event("request", str(i)) for i in items if i is not _CLOSE]
                now = loop.time()
                if now >= state_at + STATE_S:
                    state_at = now
                    now_state = json.dumps(state())
                    if now_state != last_state:
                        last_state = now_state
                        out.append(_event("state", now_state))
                    elif not out and now - last_write >= HEARTBEAT_S:
                        out.append(b": keep-alive\n\n")
                if out:
                    await resp.write(b"".join(out))
                    last_write = now
                if closing:
                    break
        except ConnectionResetError:  # the tab went away mid-write
            pass
        finally:
            self._subscribers.discard(q)
        return resp


def _drain(q: asyncio.Queue[object]) -> list[object]:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except asyncio.QueueEmpty:
            return items


def _event(name: str, data: str) -> bytes:
    return f"event: {name}\ndata: {data}\n\n".encode()
