from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.upstream import FakeUpstream, Gate, add_profile

MAX_SECRET = "sk-ant-oat01-profile-secret-" + "m" * 40
API_SECRET = "sk-ant-api03-profile-secret-" + "a" * 40
LITELLM_SECRET = "sk-litellm-virtual-" + "l" * 30


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def profiles(fake: FakeUpstream) -> FakeUpstream:
    """max (max-oauth), key (api-key), lite (litellm-key), all pointing at the fake upstream."""
    add_profile("max", "max-oauth", secret=MAX_SECRET, base_url=fake.url)
    add_profile("key", "api-key", secret=API_SECRET, base_url=fake.url)
    add_profile("lite", "litellm-key", secret=LITELLM_SECRET, base_url=fake.url)
    return fake


@pytest.fixture
def gate(profiles: FakeUpstream) -> Iterator[Gate]:
    with Gate() as g:
        yield g
