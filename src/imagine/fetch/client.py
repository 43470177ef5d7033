"""The outbound HTTP client: timeouts on everything, the address policy on every dial."""

from __future__ import annotations

import ssl
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from urllib.request import Request

import httpcore
import httpx

from imagine.fetch.policy import AddressPolicy
from imagine.fetch.resolver import Resolver, SystemResolver
from imagine.fetch.transport import GuardedBackend, GuardedTransport
from imagine.settings import Settings

USER_AGENT = "imagine/0.1 (+self-hosted image-editing API)"


class RefuseAllCookies(CookiePolicy):
    """Stores no cookie and sends none.

    The client is shared by every account's image fetches, webhooks and provider calls: a
    cookie one receiver sets must never reach another account's request to that host (or to
    a sibling subdomain), and a host must not be able to plant cookies that break later calls.
    """

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: Request) -> bool:
        """Never store."""
        return False

    def return_ok(self, cookie: Cookie, request: Request) -> bool:
        """Never send."""
        return False

    def domain_return_ok(self, domain: str, request: Request) -> bool:
        """No domain has cookies to send."""
        return False

    def path_return_ok(self, path: str, request: Request) -> bool:
        """No path has cookies to send."""
        return False


def cookieless_jar() -> CookieJar:
    """A cookie jar that stays empty whatever servers answer."""
    return CookieJar(policy=RefuseAllCookies())


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
    """The shared client: SSRF-guarded, size- and time-capped, no redirects, no cookies.

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
        cookies=cookieless_jar(),
    )
