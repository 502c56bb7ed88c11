"""ccgate: credentials, forwarding and spend accounting for Claude Code, on one machine."""

__version__ = "0.1.0"


def version_line() -> str:
    """What `ccgate --version` prints (cli/entry.py's fast path and the full CLI)."""
    return f"ccgate {__version__}"
