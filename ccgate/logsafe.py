"""The forwarder's log: nothing it writes may carry a credential, whoever logged it.

aiohttp logs a malformed request with the parser's exception, and that exception quotes the raw
header bytes (`b'x-api-key: sk-ant-api03-…\\x01'`). So the one handler `ccgate serve` logs
through drops the details of HTTP parser errors (the client that sent them got its 400) and, as
a second line of defence for every other record, masks anything shaped like a credential:
Anthropic keys and tokens, sealed handles, Bearer/Basic values, credential headers, URL userinfo.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from types import TracebackType

MASK = "[redacted]"
_PATTERNS = (
    # sk-ant-api03-…, sk-ant-oat01-…, sk-ant-ort01-…: keep the kind, drop the secret.
    (re.compile(r"(sk-ant-[a-z]{3}\d{2}-)[^\s'\"\\]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(ccgate-sealed-)[^\s'\"\\]+"), rf"\g<1>{MASK}"),
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[^\s'\"\\]+"), rf"\g<1>\g<2>{MASK}"),
    (
        re.compile(
            r"(?i)\b(x-api-key|authorization|proxy-authorization|x-litellm-api-key|cookie)(\s*[:=]\s*)(?!(?:bearer|basic)\s)[^\s'\"\\]+"
        ),
        rf"\g<1>\g<2>{MASK}",
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"\\]+@"), rf"\g<1>{MASK}@"),
    # Any other sk-… key (LiteLLM virtual keys and the like).
    (re.compile(r"\b(sk-)(?!ant-[a-z]{3}\d{2}-)[A-Za-z0-9_\-]{8,}"), rf"\g<1>{MASK}"),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_http_parser_error(exc: BaseException | None) -> bool:
    # aiohttp.http_exceptions.HttpProcessingError and its subclasses, named without importing aiohttp.
    return exc is not None and any(
        cls.__module__.startswith("aiohttp.") and cls.__name__ == "HttpProcessingError" for cls in type(exc).__mro__
    )


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if _is_http_parser_error(exc):
            assert exc is not None
            message = f"{message}: malformed HTTP request ({type(exc).__name__}; its bytes are not logged)"
            record.exc_info, record.exc_text = None, None
        elif record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        record.msg, record.args = redact(message), ()
        return True


def configure(level: int = logging.WARNING) -> None:
    """Send every logger's records to stderr as `ccgate: …` lines, through the redacting filter."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("ccgate: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    sys.excepthook = _print_redacted
    threading.excepthook = lambda args: _print_redacted(args.exc_type, args.exc_value, args.exc_traceback)


def _print_redacted(exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None) -> None:
    """What an uncaught exception would print, masked the same way."""
    sys.stderr.write(redact("".join(traceback.format_exception(exc_type, exc, tb))))
