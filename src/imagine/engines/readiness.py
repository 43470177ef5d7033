"""The hosted providers as an operator sees them: key set?, reachable?, balance.

Never in the request path: `imagine providers` and `GET /providers` ask, with a short
timeout, through the provider-API client, and the answer is kept for a while. A low or
unknown balance is reported, never turned into a failure of this service.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from imagine.clock import Clock
from imagine.engines.hosted import HostedProvider
from imagine.settings import Settings

log = structlog.get_logger(__name__)

CHECK_TIMEOUT = 5.0  # seconds for one provider's answer
CACHE_SECONDS = 30.0  # how long one round of answers is reused


@dataclass(frozen=True)
class ProviderState:
    """One hosted provider's state (no key, no URL)."""

    name: str
    configured: bool  # a key or token is set
    reachable: bool | None  # None: not asked (no key, or no balance endpoint to ask)
    balance: float | None  # the account's balance in the provider's unit (BFL: credits)
    note: str = ""

    def public(self) -> dict[str, Any]:
        """The JSON shape of GET /providers."""
        return asdict(self)


def _key(settings: Settings, provider: HostedProvider) -> SecretStr | None:
    key = getattr(settings, provider.key_setting)
    return key if isinstance(key, SecretStr) and key.get_secret_value() else None


async def check_provider(
    settings: Settings,
    provider: HostedProvider,
    http: httpx.AsyncClient,
    seconds: float = CHECK_TIMEOUT,
) -> ProviderState:
    """Ask one provider for its balance (where it has an endpoint for it)."""
    key = _key(settings, provider)
    if key is None:
        return ProviderState(provider.name, False, None, None, "no key set")
    if provider.balance_path is None:
        return ProviderState(
            provider.name, True, None, None, "no balance endpoint: not asked (key set)"
        )
    secret = key.get_secret_value()
    value = f"{provider.auth_scheme} {secret}" if provider.auth_scheme else secret
    url = getattr(settings, provider.base_url_setting).rstrip("/") + provider.balance_path
    try:
        response = await http.get(
            url,
            headers={provider.auth_header: value},
            timeout=seconds,
            follow_redirects=False,
            extensions={"deadline": seconds},
        )
    except httpx.HTTPError as exc:
        log.info("provider balance check failed", engine=provider.name, error=type(exc).__name__)
        note = f"unreachable ({type(exc).__name__})"
        return ProviderState(provider.name, True, False, None, note)
    if response.status_code in (401, 403):
        return ProviderState(provider.name, True, True, None, "key rejected")
    if response.status_code != 200:
        return ProviderState(
            provider.name, True, True, None, f"balance not available ({response.status_code})"
        )
    try:
        balance = response.json().get(provider.balance_field)
    except (ValueError, AttributeError):
        balance = None
    if isinstance(balance, bool) or not isinstance(balance, (int, float)):
        return ProviderState(provider.name, True, True, None, "balance answer malformed")
    note = "no balance left: its models fail over or answer 503" if balance <= 0 else ""
    return ProviderState(provider.name, True, True, float(balance), note)


class ProviderReadiness:
    """Every hosted provider's state, asked at most once per `cache_seconds`."""

    def __init__(
        self,
        settings: Settings,
        providers: list[HostedProvider],
        http: httpx.AsyncClient,
        clock: Clock,
        cache_seconds: float = CACHE_SECONDS,
        seconds: float = CHECK_TIMEOUT,
    ) -> None:
        self.settings, self.providers, self.http, self.clock = settings, providers, http, clock
        self.cache_seconds, self.seconds = cache_seconds, seconds
        self._lock = asyncio.Lock()
        self._states: list[ProviderState] | None = None
        self._at: datetime | None = None

    async def states(self) -> list[ProviderState]:
        """The providers' states (cached; concurrent callers share one round of checks)."""
        async with self._lock:
            now = self.clock.now()
            fresh = self._at is not None and now - self._at < timedelta(seconds=self.cache_seconds)
            if self._states is None or not fresh:
                self._states = list(
                    await asyncio.gather(
                        *(
                            check_provider(self.settings, p, self.http, self.seconds)
                            for p in self.providers
                        )
                    )
                )
                self._at = now
            return self._states
