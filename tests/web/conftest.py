"""A real `ccgate serve` with the fake upstream, and headless Chromium driven by Playwright.

Every page the `page` fixture opens records each request it makes; the fixture fails the test
if any went anywhere but the ccgate origin, or if the console reported an error (a CSP
violation shows up there).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.upstream import FakeUpstream, Gate, add_profile

SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM = os.environ.get("CCGATE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
MAX_SECRET = "sk-ant-oat01-dashboard-secret-" + "m" * 40
API_SECRET = "sk-ant-api03-dashboard-secret-" + "a" * 40
PRICED_MODEL = "claude-sonnet-4-5"


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def gate(fake: FakeUpstream) -> Iterator[Gate]:
    """max (max-oauth) and key (api-key) profiles on the fake upstream, behind `ccgate serve`."""
    add_profile("max", "max-oauth", secret=MAX_SECRET, base_url=fake.url)
    add_profile("key", "api-key", secret=API_SECRET, base_url=fake.url)
    with Gate() as g:
        yield g


def send(
    gate: Gate,
    profile: str,
    *,
    session: str | None = None,
    agent: str | None = None,
    parent: str | None = None,
    model: str = PRICED_MODEL,
    stream: bool = False,
    headers: dict[str, str] | None = None,
    usage: dict[str, Any] | None = None,
) -> int:
    """One Messages request through the gateway, as Claude Code sends it; returns the status."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "messages": [{"role": "user", "content": "hello"}],
    }
    if session:
        body["metadata"] = {
            "user_id": json.dumps({"device_id": "dev", "account_uuid": "acct-1", "session_id": session})
        }
    h = {"content-type": "application/json", "anthropic-version": "2023-06-01", **(headers or {})}
    if agent:
        h["x-claude-code-agent-id"] = agent
    if parent:
        h["x-claude-code-parent-agent-id"] = parent
    if usage is not None:
        h["x-fake-usage"] = json.dumps(usage)
    req = urllib.request.Request(
        gate.profile_url(profile) + "/v1/messages", data=json.dumps(body).encode(), headers=h, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as exc:
        exc.read()
        return exc.code


@dataclass
class Recorder:
    origin: str
    urls: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign(self) -> list[str]:
        return [u for u in self.urls if not (u == self.origin or u.startswith(self.origin + "/"))]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


OpenPage = Callable[..., Any]


@pytest.fixture
def open_page(browser: Any, gate: Gate) -> Iterator[OpenPage]:
    """open_page(view, width=1280, scheme="light") -> (page, recorder)."""
    opened: list[tuple[Any, Recorder]] = []

    def open_(
        view: str = "now", *, width: int = 1280, height: int = 900, scheme: str = "light"
    ) -> tuple[Any, Recorder]:
        context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
        page = context.new_page()
        rec = Recorder(gate.url)
        page.on("request", lambda r: rec.urls.append(r.url))
        page.on("console", lambda m: rec.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: rec.console_errors.append(str(e)))
        page.goto(f"{gate.url}/ccgate/#{view}")
        page.wait_for_selector(f"body[data-{view}='ready']", timeout=5000)
        opened.append((page, rec))
        return page, rec

    yield open_
    for page, rec in opened:
        page.context.close()
        assert rec.foreign() == [], f"the page reached outside ccgate: {rec.foreign()}"
        assert rec.console_errors == [], f"console errors: {rec.console_errors}"


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
