"""The README's quickstart, line by line, in a real bash against the fake Anthropic API.

Only what a test cannot do is substituted: `claude setup-token` prints a test token, the hidden
prompt of `profile add` is fed from stdin and the profile points at the fake upstream, and
`claude` is the real Claude Code CLI when installed, else a stand-in that sends what it sends.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fakes.upstream import FakeUpstream

REPO = Path(__file__).resolve().parent.parent
TOKEN = "sk-ant-oat01-quickstart-" + "q" * 40


def quickstart_lines() -> list[str]:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Quickstart\n\n```bash\n(.*?)```", readme, re.S)
    assert block, "README has no quickstart block"
    lines = [line.split("  #")[0].strip() for line in block.group(1).splitlines()]
    # The first two lines install ccgate; this test runs the installed checkout.
    assert lines[0].startswith("python3 -m venv") and lines[1].startswith("export PATH")
    return [line for line in lines[2:] if line]


def test_readme_quickstart(tmp_path: Path) -> None:
    lines = quickstart_lines()
    assert lines[:2] == ["claude setup-token", "ccgate profile add max --kind max-oauth"]
    port = int(os.environ["CCGATE_PORT"])  # the configured port (tests/conftest.py): free
    real_claude = shutil.which("claude")
    standin = f"{sys.executable} {REPO / 'tests' / 'fakes' / 'claude_standin.py'}"
    with FakeUpstream() as fake:
        script = [
            "set -e",
            f'claude() {{ if [ "$1" = setup-token ]; then echo {TOKEN}; else {real_claude or standin} "$@"; fi; }}',
        ]
        for line in lines:
            if line == "ccgate profile add max --kind max-oauth":
                line += f" --secret-stdin --base-url {fake.url} <<< {TOKEN}"
            script.append(line)
        script.append('echo "BASE_URL=$ANTHROPIC_BASE_URL"')
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        }
        try:
            proc = subprocess.run(
                ["bash", "-c", "\n".join(script)], capture_output=True, text=True, env=env, timeout=120
            )
        finally:
            subprocess.run([sys.executable, "-P", "-m", "ccgate", "stop"], env=env, capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert f"BASE_URL=http://127.0.0.1:{port}/p/max" in proc.stdout
    messages = [r for r in fake.received if r.path.startswith("/v1/messages")]
    assert messages, "Claude Code's request reached the upstream"
    assert messages[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert "chunk0" in proc.stdout  # the answer came back through ccgate
    assert re.search(r"total\s*\S\s*1\s*\S", proc.stdout), "ccgate stats counts the one request"
