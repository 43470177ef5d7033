"""The outbound HTTP client: timeouts on everything, the address policy on every dial."""

from __future__ import annotations

import ssl

import httpcore
import httpx

from imagine.fetch.policy import AddressPolicy
from imagine.fetch.resolver import Resolver, SystemResolver
from imagine.fetch.transport import GuardedBackend, GuardedTransport
from imagine.settings import Settings

USER_AGENT = "imagine/0.1 (+self-hosted image-editing API)"


def outbound_timeout(settings: Settings) -> httpx.Timeout:
    """Default per-phase timeouts for outbound calls."""
    return httpx.Timeout(settings.fetch_deadline, connect=settings.fetch_connect_timeout)


def build_outbound_client(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """The shared client: SSRF-guarded, size- and time-capped, never following redirects.

    `resolver` and `network_backend` replace DNS and the socket layer (tests, special
    deployments); the address policy applies whatever they are.
    """
    policy = AddressPolicy.from_allow_list(settings.fetch_allow)
    backend = GuardedBackend(
        policy,
        resolver or SystemResolver(timeout=settings.fetch_connect_timeout),
        inner=network_backend,
    )
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
    transport = GuardedTransport(
        backend,
        max_bytes=settings.fetch_max_bytes,
        deadline=settings.fetch_deadline,
        limits=limits,
        verify=verify,
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=outbound_timeout(settings),
        follow_redirects=False,
        max_redirects=settings.fetch_max_redirects,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )
