"""Fixtures of the SDK and CLI tests: a scripted fake API (the real app is `api`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.fake_api import FakeApi


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    """A scripted imagine server on loopback."""
    server = FakeApi()
    server.start()
    try:
        yield server
    finally:
        server.stop()
