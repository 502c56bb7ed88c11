"""A fake Anthropic API on 127.0.0.1, and `ccgate serve` as a real subprocess.

The fake runs its own event loop in a thread, so synchronous tests, async tests, benchmarks
and subprocesses can all use it. It records every request it receives and answers like the
Messages API: JSON or SSE with known usage. Requests steer it with `x-fake-*` headers, which
ccgate forwards like any other end-to-end header:

  x-fake-status: 429            answer that status with Anthropic's error body (and retry-after)
  x-fake-ratelimit: unified|api  which rate-limit header family comes back (default: none)
  x-fake-5h-utilization: 0.55   with unified: this 5-hour utilization instead of UNIFIED_HEADERS's
  x-fake-gzip: 1                gzip the body (SSE included), as Anthropic does for subscriptions
  x-fake-usage: {json}          the usage the answer reports (default DEFAULT_USAGE)
  x-fake-gate: NAME             after the first SSE event, wait until `release(NAME)`
  x-fake-drop: 1                close the connection after the first SSE events
  x-fake-error-event: 1         send `event: error` (overloaded_error) inside a 200 stream
  x-fake-delay-ms: N            pause N ms between SSE events (a slow stream)
  x-fake-think-ms: N            pause N ms before answering (the model thinking)
  x-fake-events: N              extra text deltas (default 2)
  x-fake-agents: N              nested subagents, N levels deep: a streamed request from depth d < N
                                (0 = main loop, 1 = x-claude-code-agent-id, 2 = with a parent agent id)
                                that offers the `Agent` tool and holds no tool_result yet is answered
                                with a text block and an `Agent` tool_use (stop_reason tool_use)
  x-fake-thinking: 1            a streamed answer starts with a thinking block (one more content block)
  x-fake-bomb: MIB              answer a gzip body that decodes to MIB MiB of zeros (SSE or JSON per the
                                request's `stream`), 64 KiB per write: a decompression bomb
  x-fake-line-mib: N            an SSE stream whose one text delta is a single N MiB line, sent as an unnamed
                                event (64 KiB per write)
  x-fake-rejected-until: T      until unix time T, /v1/messages answers 429 with the unified status
                                `rejected` and T as its reset (a used-up subscription window); the
                                attribute `reject_until` does the same for every request

`label` (an attribute) starts every answer's text, to tell two fakes' answers apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MODEL = "claude-sonnet-5"
DEFAULT_USAGE: dict[str, Any] = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 300,
    "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
    "output_tokens": 57,
    "service_tier": "standard",
}
UNIFIED_HEADERS = {
    "anthropic-ratelimit-unified-status": "allowed",
    "anthropic-ratelimit-unified-reset": "1893456000",
    "anthropic-ratelimit-unified-5h-status": "allowed",
    "anthropic-ratelimit-unified-5h-utilization": "0.42",
    "anthropic-ratelimit-unified-5h-reset": "1893456000",
    "anthropic-ratelimit-unified-7d-status": "allowed",
    "anthropic-ratelimit-unified-7d-utilization": "0.17",
    "anthropic-ratelimit-unified-7d-reset": "1893900000",
    "anthropic-ratelimit-unified-representative-claim": "five_hour",
    "anthropic-ratelimit-unified-overage-status": "rejected",
}
API_HEADERS = {
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": "2030-01-01T00:00:00Z",
    "anthropic-ratelimit-input-tokens-limit": "2000000",
    "anthropic-ratelimit-input-tokens-remaining": "1999000",
    "anthropic-ratelimit-output-tokens-limit": "400000",
    "anthropic-ratelimit-tokens-limit": "2400000",
}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Received:
    method: str
    path: str  # path and query as received
    headers: CIMultiDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeUpstream:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    # Usage reported per answered message, in order (what the log must add up to).
    answered: list[dict[str, Any]] = field(default_factory=list)
    # Streams whose client (ccgate) went away before the end: message ids.
    aborted: list[str] = field(default_factory=list)
    reject_until: float | None = None
    label: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _gates: dict[str, asyncio.Event] = field(default_factory=dict)
    _first_sent: dict[str, threading.Event] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _counter: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeUpstream:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True, name="fake-upstream")
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- gates: hold a stream after its first event until the test says so -------------------
    def gate(self, name: str) -> threading.Event:
        """Returns an event set once the gated stream has sent its first event."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._gates.setdefault, name, asyncio.Event())
        return self._first_sent.setdefault(name, threading.Event())

    def release(self, name: str) -> None:
        assert self._loop is not None

        def do() -> None:
            self._gates.setdefault(name, asyncio.Event()).set()

        self._loop.call_soon_threadsafe(do)

    # --- server -----------------------------------------------------------------------------
    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application(client_max_size=1024**3, handler_args={"auto_decompress": False})
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        for event in self._gates.values():
            event.set()
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.method, request.raw_path, CIMultiDict(request.headers), body))
        self._counter += 1
        request_id = f"req_fake_{self._counter:06d}"
        h = request.headers
        headers = {"request-id": request_id, **_ratelimit_headers(h.get("x-fake-ratelimit"))}
        if utilization := h.get("x-fake-5h-utilization"):
            headers["anthropic-ratelimit-unified-5h-utilization"] = utilization
        if think := int(h.get("x-fake-think-ms", "0")):
            await asyncio.sleep(think / 1000)
        if status := int(h.get("x-fake-status", "0")):
            return self._error(status, headers)
        path = request.path
        until = float(h["x-fake-rejected-until"]) if "x-fake-rejected-until" in h else self.reject_until
        if until is not None and time.time() < until and path.endswith("/v1/messages"):
            return self._rejected(until, headers)
        if path.endswith("/v1/messages/count_tokens"):
            return web.json_response({"input_tokens": 1234}, headers=headers)
        if path.endswith("/v1/models"):
            return web.json_response({"data": [{"id": DEFAULT_MODEL, "type": "model"}], "has_more": False})
        if not path.endswith("/v1/messages"):
            return web.json_response({"ok": True, "path": request.raw_path, "method": request.method}, headers=headers)
        payload = json.loads(body or b"{}") if not request.headers.get("content-encoding") else {}
        usage = json.loads(h["x-fake-usage"]) if "x-fake-usage" in h else dict(DEFAULT_USAGE)
        model = payload.get("model", DEFAULT_MODEL)
        message_id = f"msg_fake_{self._counter:06d}"
        if bomb := int(h.get("x-fake-bomb", "0")):
            return await self._bomb(request, headers, bomb, bool(payload.get("stream")))
        if line := int(h.get("x-fake-line-mib", "0")):
            return await self._long_line(request, headers, model, message_id, usage, line)
        if payload.get("stream"):
            blocks = scripted_blocks(h, payload, self._counter)
            return await self._stream(request, headers, model, message_id, usage, blocks)
        self.answered.append(usage)
        message = _message(message_id, model, usage, self.label + "Hello world")
        raw = json.dumps(message).encode()
        headers["content-type"] = "application/json"
        if h.get("x-fake-gzip"):
            raw, headers["content-encoding"] = gzip.compress(raw), "gzip"
        return web.Response(body=raw, headers=headers)

    def _rejected(self, until: float, headers: dict[str, str]) -> web.Response:
        """A subscription whose window is used up: 429, unified status `rejected`, the reset time."""
        reset = str(math.ceil(until))
        headers.update(
            {
                **UNIFIED_HEADERS,
                "anthropic-ratelimit-unified-status": "rejected",
                "anthropic-ratelimit-unified-reset": reset,
                "anthropic-ratelimit-unified-5h-status": "rejected",
                "anthropic-ratelimit-unified-5h-utilization": "1.0",
                "anthropic-ratelimit-unified-5h-reset": reset,
            }
        )
        return self._error(429, headers)

    def _error(self, status: int, headers: dict[str, str]) -> web.Response:
        error_type = ERROR_TYPES.get(status, "api_error")
        if status in (429, 529):
            headers["retry-after"] = "7"
        body = {"type": "error", "error": {"type": error_type, "message": f"fake upstream says {status}"}}
        return web.json_response(body, status=status, headers=headers)

    async def _stream(
        self,
        request: web.Request,
        headers: dict[str, str],
        model: str,
        message_id: str,
        usage: dict[str, Any],
        blocks: list[dict[str, Any]] | None = None,
    ) -> web.StreamResponse:
        h = request.headers
        gz = h.get("x-fake-gzip")
        headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
        if gz:
            headers["content-encoding"] = "gzip"
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        compressor = zlib.compressobj(wbits=31) if gz else None
        delay = int(h.get("x-fake-delay-ms", "0")) / 1000
        gate = h.get("x-fake-gate")
        if blocks:
            events = sse_block_events(message_id, model, usage, blocks)
        else:
            events = sse_events(
                message_id,
                model,
                usage,
                int(h.get("x-fake-events", "2")),
                bool(h.get("x-fake-error-event")),
                self.label,
            )
        for index, event in enumerate(events):
            data = event.encode()
            if compressor is not None:
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            try:
                await response.write(data)
            except ConnectionError:
                self.aborted.append(message_id)
                return response
            if index == 0 and gate:
                self._first_sent.setdefault(gate, threading.Event()).set()
                await self._gates.setdefault(gate, asyncio.Event()).wait()
            if index == 1 and h.get("x-fake-drop"):
                request.transport.abort()  # type: ignore[union-attr]
                return response
            if delay:
                await asyncio.sleep(delay)
        if compressor is not None:
            await response.write(compressor.flush())
        self.answered.append(usage)
        await response.write_eof()
        return response

    async def _bomb(self, request: web.Request, headers: dict[str, str], mib: int, stream: bool) -> web.StreamResponse:
        headers.update({"content-type": "text/event-stream" if stream else "application/json"})
        headers["content-encoding"] = "gzip"
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        data = gzip_bomb(mib)
        for i in range(0, len(data), 65536):
            await response.write(data[i : i + 65536])
        await response.write_eof()
        return response

    async def _long_line(
        self, request: web.Request, headers: dict[str, str], model: str, msg_id: str, usage: dict[str, Any], mib: int
    ) -> web.StreamResponse:
        headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
        response = web.StreamResponse(status=200, headers=headers)
        await response.prepare(request)
        events = sse_events(msg_id, model, usage, 1)
        delta = json.dumps({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "@"}})
        before, _, after = delta.partition("@")
        # Sent without its `event:` line (SSE's default "message" event): a reader cannot tell it is a
        # text delta before the line ends.
        await response.write("".join(events[:3]).encode() + f"data: {before}".encode())
        piece = b"y" * 65536
        for _ in range(mib * 16):
            await response.write(piece)
        await response.write(f"{after}\n\n".encode() + "".join(events[4:]).encode())
        self.answered.append(usage)
        await response.write_eof()
        return response


_BOMBS: dict[int, bytes] = {}


def gzip_bomb(mib: int) -> bytes:
    """gzip of `mib` MiB of zeros: about a thousandth of that on the wire."""
    if mib not in _BOMBS:
        compressor = zlib.compressobj(9, wbits=31)
        zeros = bytes(1024 * 1024)
        _BOMBS[mib] = b"".join(compressor.compress(zeros) for _ in range(mib)) + compressor.flush()
    return _BOMBS[mib]


def _ratelimit_headers(family: str | None) -> dict[str, str]:
    return {"unified": UNIFIED_HEADERS, "api": API_HEADERS}.get(family or "", {})


def _message(message_id: str, model: str, usage: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def sse_events(
    message_id: str, model: str, usage: dict[str, Any], deltas: int = 2, error: bool = False, label: str = ""
) -> list[str]:
    """A Messages stream as Anthropic sends it: message_start carries the input side of the usage
    (output tiny), the final message_delta the cumulative output."""
    start_usage = {**usage, "output_tokens": 1}
    start = _message(message_id, model, start_usage, "")
    start["content"], start["stop_reason"] = [], None
    out = [
        _sse("message_start", {"type": "message_start", "message": start}),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _sse("ping", {"type": "ping"}),
    ]
    for i in range(deltas):
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": f"{label}chunk{i} "},
        }
        out.append(_sse("content_block_delta", delta))
    if error:
        out.append(_sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
        return out
    out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    final = {"output_tokens": usage.get("output_tokens", 0)}
    out.append(
        _sse(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": final},
        )
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


def _agent_depth(headers: Any) -> int:
    if headers.get("x-claude-code-parent-agent-id"):
        return 2
    return 1 if headers.get("x-claude-code-agent-id") else 0


def _has_tool_result(payload: dict[str, Any]) -> bool:
    for message in payload.get("messages", []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            return True
    return False


def scripted_blocks(headers: Any, payload: dict[str, Any], counter: int) -> list[dict[str, Any]] | None:
    """The content blocks x-fake-agents / x-fake-thinking ask for, or None for the plain text answer."""
    agents = int(headers.get("x-fake-agents", "0"))
    thinking = bool(headers.get("x-fake-thinking"))
    tools = {t.get("name") for t in payload.get("tools", []) if isinstance(t, dict)}
    depth = _agent_depth(headers)
    spawn = depth < agents and "Agent" in tools and not _has_tool_result(payload)
    if not (spawn or thinking):
        return None
    blocks: list[dict[str, Any]] = []
    if thinking:
        blocks.append({"type": "thinking", "thinking": f"fake thought {counter}", "signature": "fakesig"})
    if not spawn:
        blocks.append({"type": "text", "text": f"fake answer {counter} at depth {depth}"})
        return blocks
    blocks.append({"type": "text", "text": f"fake delegates to level {depth + 1}"})
    task = {
        "description": f"fake level {depth + 1}",
        "prompt": f"fake task for level {depth + 1}",
        "subagent_type": "general-purpose",
    }
    blocks.append({"type": "tool_use", "id": f"toolu_fake_{counter:06d}", "name": "Agent", "input": task})
    return blocks


def sse_block_events(message_id: str, model: str, usage: dict[str, Any], blocks: list[dict[str, Any]]) -> list[str]:
    """A Messages stream of the given content blocks (text, thinking, tool_use), usage as in sse_events."""
    start = _message(message_id, model, {**usage, "output_tokens": 1}, "")
    start["content"], start["stop_reason"] = [], None
    out = [_sse("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(blocks):
        kind = block["type"]
        empty = {"text": {"text": ""}, "thinking": {"thinking": "", "signature": ""}}.get(kind, {"input": {}})
        opening = {
            "type": kind,
            **{k: v for k, v in block.items() if k not in ("type", "text", "thinking", "signature", "input")},
            **empty,
        }
        out.append(
            _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening})
        )
        if kind == "text":
            deltas = [{"type": "text_delta", "text": block["text"]}]
        elif kind == "thinking":
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        for delta in deltas:
            out.append(_sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop_reason = "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn"
    final = {"output_tokens": usage.get("output_tokens", 0)}
    delta = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": final}
    out.append(_sse("message_delta", delta))
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


# --- ccgate serve as a real subprocess ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_health(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15.0) -> dict[str, Any]:
    """Poll /ccgate/health until it answers (readiness, not a sleep-for-sync)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"ccgate serve exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ccgate/health", timeout=1) as resp:
            return json.loads(resp.read())
        time.sleep(0.02)
    raise TimeoutError(f"ccgate serve did not answer on {url}")


class Gate:
    """`python -m ccgate serve` on a free port, with the test's environment."""

    def __init__(
        self, *args: str, port: int | None = None, env: dict[str, str] | None = None, nofile: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.args = args
        self.nofile = nofile  # the forwarder's descriptor limit (soft and hard), as `ulimit -n` would set it
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def profile_url(self, profile: str) -> str:
        return f"{self.url}/p/{profile}"

    def start(self) -> Gate:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "ccgate", "serve", "--port", str(self.port), *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=self._limit_descriptors if self.nofile else None,
        )
        wait_for_health(self.url, self.proc)
        return self

    def _limit_descriptors(self) -> None:
        import resource

        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/ccgate/health", timeout=5) as resp:
            return json.loads(resp.read())

    def wait_logged(self, count: int, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the usage log has written `count` records (health says so)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.health()
            if report["log"].get("written", 0) >= count:
                return report
            time.sleep(0.02)
        raise TimeoutError(f"usage log did not reach {count} records: {self.health()['log']}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> tuple[int, str]:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err.decode(errors="replace")

    def __enter__(self) -> Gate:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


def add_profile(name: str, kind: str, *, secret: str | None = None, base_url: str | None = None, **opts: Any) -> None:
    """Create a profile through the real CLI (secret into the test keyring)."""
    args = [sys.executable, "-P", "-m", "ccgate", "profile", "add", name, "--kind", kind]
    if base_url:
        args += ["--base-url", base_url]
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    if secret is not None:
        args.append("--secret-stdin")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(args, input=secret, text=True, capture_output=True, env=env, timeout=30)
    if proc.returncode != 0:
        raise AssertionError(f"profile add {name} failed: {proc.stderr}")


@contextlib.contextmanager
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream().start()
    try:
        yield fake
    finally:
        fake.stop()


def main() -> None:
    """`python -m tests.fakes.upstream [PORT]`: serve until stdin closes (benchmarks run it apart)."""
    fake = FakeUpstream(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(fake.port, flush=True)
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
