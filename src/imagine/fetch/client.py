"""The outbound HTTP client: timeouts on everything, the address policy on every dial."""

from __future__ import annotations

import httpx

from imagine.settings import Settings


def outbound_timeout(settings: Settings) -> httpx.Timeout:
    """Default per-phase timeouts for outbound calls."""
    return httpx.Timeout(settings.fetch_deadline, connect=settings.fetch_connect_timeout)


def build_outbound_client(settings: Settings) -> httpx.AsyncClient:
    """The shared client. Redirects are handled by callers, hop by hop, never implicitly."""
    return httpx.AsyncClient(
        timeout=outbound_timeout(settings),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": "imagine/0.1 (+self-hosted image-editing API)"},
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
    )
