"""Nothing the forwarder logs carries a credential (issue 16, item 4), driven over raw sockets."""

from __future__ import annotations

import logging
import socket

import pytest

from ccgate.logsafe import RedactingFilter, redact
from tests.fakes.upstream import Gate

API_KEY = "sk-ant-api03-LOGLEAK" + "k" * 30
OAUTH = "sk-ant-oat01-LOGLEAK" + "o" * 30
VIRTUAL = "sk-litellm-LOGLEAK" + "v" * 20

MALFORMED = [
    f"x-api-key: {API_KEY}\x01zz",
    f"Authorization: Bearer {OAUTH}\x7f",
    f"x-litellm-api-key: Bearer {VIRTUAL}\x00",
    f"X-Api-Key {API_KEY}",  # no colon
]


def _send_raw(port: int, header_line: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header_line}\r\nContent-Length: 0\r\n\r\n"
        sock.sendall(head.encode("latin-1"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_malformed_requests_with_credentials_leave_no_credential_in_the_log() -> None:
    with Gate("--no-log") as gate:
        for line in MALFORMED:
            assert b" 400 " in _send_raw(gate.port, line).split(b"\r\n", 1)[0]
        code, err = gate.stop()
    assert code == 0
    assert "malformed HTTP request" in err  # the event itself is still logged
    for secret in ("LOGLEAK", API_KEY, OAUTH, VIRTUAL):
        assert secret not in err, err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"b'x-api-key: {API_KEY}\\x01zz'", "b'x-api-key: [redacted]\\x01zz'"),
        (f"Authorization: Bearer {OAUTH}", "Authorization: Bearer [redacted]"),
        (f"token {OAUTH} end", "token sk-ant-oat01-[redacted] end"),
        ("sk-ant-oat01-ccgate-sealed-ab12cd34-XYZ", "sk-ant-oat01-[redacted]"),
        ("https://user:hunter2@litellm.example/v1", "https://[redacted]@litellm.example/v1"),
        (f"key={VIRTUAL}", "key=sk-[redacted]"),
        (
            "cannot reach https://api.anthropic.com (ClientConnectorError)",
            "cannot reach https://api.anthropic.com (ClientConnectorError)",
        ),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_masks_exception_text_of_any_logger() -> None:
    try:
        raise ValueError(f"upstream said no to {OAUTH}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed for %s", (API_KEY,), exc_info=True)
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    text = logging.Formatter("%(message)s").format(record)
    assert "LOGLEAK" not in text
    assert "failed for sk-ant-api03-[redacted]" in text and "ValueError: upstream said no to" in text
