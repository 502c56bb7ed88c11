"""ccgate: credentials, forwarding and spend accounting for Claude Code, on one machine."""

__version__ = "0.1.0"
