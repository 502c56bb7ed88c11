"""A base URL carrying `user:pass@` is refused everywhere and never echoed (issue 16, item 10)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.conftest import Runner
from tests.fakes.upstream import FakeUpstream, Gate

PASSWORD = "hunter2-url-secret"
KEY = "sk-ant-api03-urlcreds-" + "u" * 30


def test_profile_add_and_edit_refuse_credentials_in_the_url(ccgate: Runner, fake: FakeUpstream) -> None:
    url = fake.url.replace("http://", f"http://alice:{PASSWORD}@")
    added = ccgate(
        "profile", "add", "k", "--kind", "api-key", "--base-url", url, "--secret-stdin", input=KEY, check=False
    )
    assert added.returncode == 1
    assert added.stderr.startswith("ccgate: invalid base URL: it holds a user name or password")
    assert PASSWORD not in added.stderr + added.stdout
    assert "k" not in ccgate("profile", "list", "--json").stdout  # nothing stored, no secret either
    ccgate("profile", "add", "k", "--kind", "api-key", "--base-url", fake.url, "--secret-stdin", input=KEY)
    edited = ccgate("profile", "edit", "k", "--base-url", url, check=False)
    assert edited.returncode == 1 and PASSWORD not in edited.stderr
    assert ccgate("profile", "show", "k", "--json").stdout.count(fake.url) == 1


def test_a_hand_edited_url_with_credentials_is_refused_and_not_forwarded(ccgate: Runner, fake: FakeUpstream) -> None:
    ccgate("profile", "add", "k", "--kind", "api-key", "--base-url", fake.url, "--secret-stdin", input=KEY)
    config = Path(os.environ["CCGATE_CONFIG_DIR"]) / "config.toml"
    config.write_text(config.read_text().replace(fake.url, fake.url.replace("http://", f"http://bob:{PASSWORD}@")))
    use = ccgate("use", "k", "--shell", "bash", check=False)
    assert use.returncode == 1 and "user name or password" in use.stderr and PASSWORD not in use.stderr
    with Gate() as gate:
        r = httpx.post(gate.profile_url("k") + "/v1/messages", json={}, headers={"x-api-key": KEY})
        _, err = gate.stop()
    assert r.status_code == 400 and "user name or password" in r.json()["error"]["message"]
    assert PASSWORD not in r.text + err
    assert fake.received == []
