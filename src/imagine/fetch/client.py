"""The outbound HTTP client: timeouts on everything, the address policy on every dial."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
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

    Each client is shared by every account's requests of its purpose: a
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


# Longest provider result accepted (the engines' own cap: a 2-megapixel PNG fits well).
PROVIDER_MAX_BYTES = 30 * 1024 * 1024
# A webhook receiver's answer is only recorded (its first KiB); more is never needed.
WEBHOOK_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ClientLimits:
    """One purpose's caps: body size, total deadline per request, connect timeout, pool."""

    max_bytes: int
    deadline: float
    connect_timeout: float
    max_connections: int = 100
    max_keepalive: int = 20


def purpose_limits(settings: Settings) -> dict[str, ClientLimits]:
    """The limits of each outbound purpose: image fetch, provider API, webhook delivery."""
    connect = settings.fetch_connect_timeout
    return {
        "fetch": ClientLimits(settings.fetch_max_bytes, settings.fetch_deadline, connect),
        # A provider call may legitimately be held for a minute (Replicate's `Prefer: wait`):
        # the whole edit's deadline bounds it, and each call narrows it with its own timeout.
        "provider": ClientLimits(
            PROVIDER_MAX_BYTES,
            settings.upstream_deadline,
            connect,
            max_connections=settings.provider_max_connections,
        ),
        "webhook": ClientLimits(WEBHOOK_MAX_BYTES, settings.webhook_timeout, connect),
    }


@dataclass
class OutboundClients:
    """One SSRF-guarded client per purpose, each with its own limits and connection pool."""

    fetch: httpx.AsyncClient
    provider: httpx.AsyncClient
    webhook: httpx.AsyncClient

    async def aclose(self) -> None:
        """Close every pool (a client passed in several roles is closed once)."""
        seen: set[int] = set()
        for client in (self.fetch, self.provider, self.webhook):
            if id(client) not in seen:
                seen.add(id(client))
                await client.aclose()

    @classmethod
    def sharing(cls, client: httpx.AsyncClient) -> OutboundClients:
        """Every purpose through one client (tests that script a single transport)."""
        return cls(fetch=client, provider=client, webhook=client)


def build_outbound_clients(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
) -> OutboundClients:
    """The production wiring: a guarded client for each purpose, from settings; the three
    share one TLS context (one load of the CA bundle)."""
    limits = purpose_limits(settings)
    verify = httpx.create_ssl_context(verify=verify, trust_env=False)
    return OutboundClients(
        **{
            purpose: build_guarded_client(
                settings,
                limits[purpose],
                resolver=resolver,
                network_backend=network_backend,
                verify=verify,
            )
            for purpose in ("fetch", "provider", "webhook")
        }
    )


def build_outbound_client(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """The image-fetch client (SSRF-guarded, size- and time-capped, no redirects, no cookies)."""
    return build_guarded_client(
        settings,
        purpose_limits(settings)["fetch"],
        resolver=resolver,
        network_backend=network_backend,
        verify=verify,
    )


def build_guarded_client(
    settings: Settings,
    caps: ClientLimits,
    *,
    resolver: Resolver | None = None,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """A client under `caps`: SSRF-guarded, size- and time-capped, no redirects, no cookies.

    `resolver` and `network_backend` replace DNS and the socket layer (tests, special
    deployments); the address policy applies whatever they are.
    """
    policy = AddressPolicy.from_allow_list(settings.fetch_allow)
    backend = GuardedBackend(
        policy,
        resolver or SystemResolver(timeout=caps.connect_timeout),
        inner=network_backend,
    )
    limits = httpx.Limits(
        max_connections=caps.max_connections, max_keepalive_connections=caps.max_keepalive
    )
    transport = GuardedTransport(
        backend,
        max_bytes=caps.max_bytes,
        deadline=caps.deadline,
        limits=limits,
        verify=verify,
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(caps.deadline, connect=caps.connect_timeout),
        follow_redirects=False,
        max_redirects=settings.fetch_max_redirects,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
        cookies=cookieless_jar(),
    )
