"""Incremental usage extraction from a streamed (SSE) Messages response.

Interface the forwarder relies on (the parser itself lands with the usage-log issue):
`StreamUsage(content_encoding)` is created per streamed response; `feed(chunk)` is called
with each chunk exactly as relayed (still compressed if the upstream compressed it) and
must be cheap; `result()` returns what was seen so far, also after an abort.
"""

from __future__ import annotations


class StreamUsage:
    def __init__(self, content_encoding: str | None = None) -> None:
        self.content_encoding = content_encoding

    def feed(self, chunk: bytes) -> None:
        return None

    def result(self) -> dict[str, object]:
        return {}
