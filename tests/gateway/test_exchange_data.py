"""What the forwarder hands on: large bodies cut to head and tail for the usage log; secrets never in a repr."""

from __future__ import annotations

import json

from ccgate.gateway.proxy import BODY_HEAD, BODY_TAIL, body_for_log
from ccgate.usage.model import Exchange
from ccgate.usage.record import build_record

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


def record_for(body: bytes):  # type: ignore[no-untyped-def]
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
        request_body=body_for_log(body, None),
    )
    return build_record(ex)


def test_large_body_is_cut_and_still_read() -> None:
    body = claude_code_body(5 * 1024 * 1024)
    kept = body_for_log(body, None)
    assert len(kept) == BODY_HEAD + BODY_TAIL
    record = record_for(body)
    assert (record.request_model, record.stream, record.session_id, record.account_id) == (
        "claude-opus-4-8",
        True,
        SESSION,
        "acc-1",
    )


def test_small_and_compressed_bodies_are_kept_whole() -> None:
    small = claude_code_body(1000)
    assert body_for_log(small, None) is small
    big = claude_code_body(500_000)
    assert body_for_log(big, "gzip") is big
    assert record_for(small).request_model == record_for(big).request_model == "claude-opus-4-8"


def test_secrets_stay_out_of_repr() -> None:
    from ccgate.gateway.credentials import Decision
    from ccgate.profiles import Credentials

    secret = "sk-ant-oat01-never-printed"
    shown = repr(Credentials(secret, secret)) + repr(Decision({"Authorization": f"Bearer {secret}"}, "sealed", "fp"))
    assert secret not in shown
