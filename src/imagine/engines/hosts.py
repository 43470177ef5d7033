"""Which hosts a provider's polling and result URLs may point at (never fetched blindly)."""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from urllib.parse import urlsplit

import structlog

from imagine.errors import UpstreamFailed
from imagine.logs import redact_url

log = structlog.get_logger(__name__)

_DEFAULT_PORTS = MappingProxyType({"http": 80, "https": 443})


def _split_pattern(pattern: str) -> tuple[str, int | None]:
    """`host`, `*.host` or `host:port` → (host pattern, port or None)."""
    pattern = pattern.strip().lower()
    if pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
        return host, int(port)
    return pattern, None


class HostPolicy:
    """Allows the provider's base URL (exact scheme, host and port) plus its delivery hosts.

    Delivery host patterns are `example.com`, `*.example.com` (any subdomain, not the apex)
    or `host:port`; without a port only https on 443 is allowed.
    """

    def __init__(self, base_url: str, delivery_hosts: Iterable[str] = ()) -> None:
        base = urlsplit(base_url)
        if base.scheme not in _DEFAULT_PORTS or not base.hostname:
            raise ValueError("provider base URL must be an absolute http(s) URL")
        self._base_scheme = base.scheme
        self._base_host = base.hostname.lower()
        self._base_port = base.port or _DEFAULT_PORTS[base.scheme]
        self._patterns = [_split_pattern(p) for p in delivery_hosts if p.strip()]

    def allows(self, url: str) -> bool:
        """True when `url` points at the provider itself or one of its delivery hosts."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if parts.scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
            return False
        port = port or _DEFAULT_PORTS[parts.scheme]
        if (parts.scheme, host, port) == (self._base_scheme, self._base_host, self._base_port):
            return True
        for pattern, pattern_port in self._patterns:
            if pattern_port is None and (parts.scheme != "https" or port != 443):
                continue
            if pattern_port is not None and port != pattern_port:
                continue
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                    return True
            elif host == pattern:
                return True
        return False

    def check(self, url: object) -> str:
        """Return `url` if it may be followed; raise UpstreamFailed (and fetch nothing) if not."""
        if not isinstance(url, str) or not self.allows(url):
            log.warning("refused an upstream URL outside the provider's hosts")
            log.debug("refused upstream URL", url=redact_url(url)[:300])
            raise UpstreamFailed("Upstream returned an unexpected URL")
        return url
