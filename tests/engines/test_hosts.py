"""Host policy: polling and result URLs must belong to the configured provider."""

from __future__ import annotations

import pytest

from imagine.engines.hosts import HostPolicy
from imagine.errors import UpstreamFailed

POLICY = HostPolicy("https://api.bfl.ai", ["bfl.ai", "*.bfl.ai"])


@pytest.mark.parametrize(
    "url",
    [
        "https://api.bfl.ai/v1/get_result?id=1",
        "https://api.bfl.ai:443/v1/get_result?id=1",
        "https://bfl.ai/x",
        "https://delivery-eu1.bfl.ai/results/a.jpeg?sig=x",
        "https://API.BFL.AI/v1/get_result",
    ],
)
def test_provider_hosts_are_allowed(url: str) -> None:
    assert POLICY.allows(url)
    assert POLICY.check(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://delivery-eu1.bfl.ai/x",  # plain http to a delivery host
        "https://bfl.ai.evil.example/x",
        "https://evilbfl.ai/x",
        "https://delivery.bfl.ai:8443/x",
        "https://user:pw@api.bfl.ai/x",
        "https://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "//api.bfl.ai/x",
        "https://[::1",
        "",
    ],
)
def test_everything_else_is_refused(url: str) -> None:
    assert not POLICY.allows(url)
    with pytest.raises(UpstreamFailed):
        POLICY.check(url)


def test_non_string_is_refused() -> None:
    with pytest.raises(UpstreamFailed):
        POLICY.check(None)


def test_loopback_base_allows_only_its_own_port() -> None:
    policy = HostPolicy("http://127.0.0.1:8123")
    assert policy.allows("http://127.0.0.1:8123/v1/x")
    assert not policy.allows("http://127.0.0.1:8124/v1/x")
    assert not policy.allows("https://127.0.0.1:8123/v1/x")
    assert not policy.allows("http://localhost:8123/v1/x")


def test_delivery_pattern_with_port() -> None:
    policy = HostPolicy("https://api.example", ["cdn.example:8443"])
    assert policy.allows("https://cdn.example:8443/a")
    assert not policy.allows("https://cdn.example/a")


def test_base_url_must_be_absolute() -> None:
    with pytest.raises(ValueError):
        HostPolicy("api.bfl.ai")
