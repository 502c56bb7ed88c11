"""Stands in for `claude -p PROMPT` where the real CLI is not installed: sends what Claude Code
sends (REFERENCE.md) to $ANTHROPIC_BASE_URL with the credential its variables name, prints the text."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid


def main() -> None:
    prompt = sys.argv[sys.argv.index("-p") + 1]
    base = os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com")
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "user-agent": "claude-cli/2.1.330 (external, cli)",
        "x-app": "cli",
        "x-claude-code-session-id": str(uuid.uuid4()),
    }
    if token := os.environ.get("CLAUDE_CODE_OAUTH_TOKEN"):
        headers["authorization"] = f"Bearer {token}"
        headers["anthropic-beta"] = "claude-code-20250219,oauth-2025-04-20"
    if key := os.environ.get("ANTHROPIC_API_KEY"):
        headers["x-api-key"] = key
    body = {
        "model": "claude-sonnet-5",
        "max_tokens": 1000,
        "stream": True,
        "messages": [{"role": "user", "content": prompt}],
    }
    request = urllib.request.Request(f"{base}/v1/messages?beta=true", json.dumps(body).encode(), headers)
    text = []
    with urllib.request.urlopen(request, timeout=30) as resp:
        for line in resp:
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                if event.get("type") == "content_block_delta":
                    text.append(event["delta"].get("text", ""))
    print("".join(text).strip())


if __name__ == "__main__":
    main()
