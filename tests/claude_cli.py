"""The real Claude Code CLI for end-to-end tests: the versions .ci/run installs, found by version.

On a machine without them the tests that need one are skipped, except in CI, where a missing
CLI is a failure (so nothing counts as tested that was not)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# The versions .ci/run pins: the oldest the tests were written against, and the newest on npm.
VERSIONS = ("2.1.197", "2.1.332")
# With these and a throwaway HOME, Claude Code talks only to ANTHROPIC_BASE_URL (shared/TESTING.md).
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_MAX_RETRIES": "2",
}


def claude_binary(version: str) -> str:
    path = REPO / ".ci" / f"claude-code-{version}" / "node_modules" / ".bin" / "claude"
    if path.exists():
        return str(path)
    if os.environ.get("CI"):
        pytest.fail(f"Claude Code {version} is not installed; .ci/run installs it with npm")
    pytest.skip(
        f"Claude Code {version} not installed (npm install --prefix {path.parents[2]} "
        f"@anthropic-ai/claude-code@{version})"
    )
