"""What the forwarder hands on: large bodies cut to head and tail for the usage log, compressed ones decoded
within a bound; secrets never in a repr."""

from __future__ import annotations

import gzip
import json
import zlib

from ccgate.usage.model import Exchange
from ccgate.usage.record import build_record
from ccgate.usage.request_body import BODY_HEAD, BODY_TAIL, DECODE_LIMIT, RequestBodyTap

SESSION = "5d1b0c9e-1111-4222-8333-444455556666"


def claude_code_body(prompt_bytes: int) -> bytes:
    """Key order as Claude Code writes it: model first, the prompt, tools, then the small fields."""
    user_id = json.dumps({"device_id": "d" * 64, "account_uuid": "acc-1", "session_id": SESSION})
    body = {
        "model": "claude-opus-4-8",
        "messages": [{"role": "user", "content": "x" * prompt_bytes}],
        "system": [{"type": "text", "text": "you are"}],
        "tools": [{"name": f"t{i}", "input_schema": {"type": "object"}} for i in range(200)],
        "metadata": {"user_id": user_id},
        "max_tokens": 32000,
        "stream": True,
    }
    return json.dumps(body).encode()


def kept(body: bytes, encoding: str | None = None, chunk: int = 65536) -> bytes | None:
    tap = RequestBodyTap(encoding)
    for i in range(0, len(body), chunk):
        tap.feed(body[i : i + chunk])
    return tap.result()


def record_for(body: bytes, encoding: str | None = None):  # type: ignore[no-untyped-def]
    ex = Exchange(
        started_at=0.0,
        profile="max",
        method="POST",
        path="/v1/messages?beta=true",
        status=200,
        outcome="ok",
        ttfb_ms=1.0,
        duration_ms=2.0,
        request_bytes=len(body),
        response_bytes=0,
        credential_kind="oauth",
        credential_fp=None,
        request_body=kept(body, encoding),
    )
    return build_record(ex)


def test_large_body_is_cut_and_still_read() -> None:
    body = claude_code_body(5 * 1024 * 1024)
    assert kept(body) == body[:BODY_HEAD] + body[-BODY_TAIL:]
    assert kept(body, chunk=1000) == kept(body, chunk=7) == kept(body)  # whatever the chunking
    record = record_for(body)
    assert (record.request_model, record.stream, record.session_id, record.account_id) == (
        "claude-opus-4-8",
        True,
        SESSION,
        "acc-1",
    )


def test_small_bodies_are_kept_whole_and_compressed_ones_decoded() -> None:
    small = claude_code_body(1000)
    assert kept(small) == small
    exact = b"x" * (BODY_HEAD + BODY_TAIL)
    assert kept(exact, chunk=1000) == exact
    big = claude_code_body(500_000)
    assert kept(gzip.compress(big), "gzip") == big[:BODY_HEAD] + big[-BODY_TAIL:]
    assert kept(zlib.compress(big), "deflate") == kept(big)
    assert record_for(small).request_model == record_for(gzip.compress(big), "gzip").request_model == "claude-opus-4-8"
    assert record_for(gzip.compress(big), "gzip").session_id == SESSION
    assert kept(b"\x1f\x8b not gzip at all", None) == b"\x1f\x8b not gzip at all"  # no sniffing: the header says
    assert kept(b"whatever", "br") is None


def test_a_gzip_bomb_is_decoded_no_further_than_the_limit() -> None:
    bomb = gzip.compress(b'{"model": "claude-opus-4-8", "messages": "' + b"a" * (200 * 1024 * 1024))
    assert len(bomb) < 300_000
    tap = RequestBodyTap("gzip")
    tap.feed(bomb)
    assert tap._inflater is not None and tap._inflater.produced == DECODE_LIMIT
    body = tap.result()
    assert body is not None and len(body) == BODY_HEAD + BODY_TAIL
    assert record_for(bomb, "gzip").request_model == "claude-opus-4-8"


def test_secrets_stay_out_of_repr() -> None:
    from ccgate.gateway.credentials import Decision
    from ccgate.profiles import Credentials

    secret = "sk-ant-oat01-never-printed"
    shown = repr(Credentials(secret, secret)) + repr(Decision({"Authorization": f"Bearer {secret}"}, "sealed", "fp"))
    assert secret not in shown
