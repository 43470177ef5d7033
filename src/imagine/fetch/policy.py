"""Which addresses outbound requests may reach: public ones, plus what IMAGINE_FETCH_ALLOW opens."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import httpx

from imagine.fetch.addresses import IPAddress, refusal_kind

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["AddressPolicy", "DestinationRefused", "IPAddress", "IPNetwork", "refused_message"]


class DestinationRefused(httpx.ConnectError):
    """An outbound request was refused before any packet left.

    `reason` may be shown to the client: it never contains an address the client did not
    write itself (a name's resolved address would map the internal network for them);
    `detail` is the operator's version, for logs.
    """

    def __init__(self, reason: str, *, private: bool = False, detail: str | None = None) -> None:
        super().__init__(f"destination refused: {reason}")
        self.reason = reason
        self.private = private
        self.detail = detail or reason

    def message(self, field: str) -> str:
        """The refusal as a client-facing message naming `field`."""
        return refused_message(field, self.reason, private=self.private)


def refused_message(field: str, reason: str, *, private: bool) -> str:
    """One wording for every refusal, so clients can recognise it."""
    if private:
        return (
            f"{field} points at a private or reserved address ({reason}); see IMAGINE_FETCH_ALLOW"
        )
    return f"{field} is not allowed: {reason}"


@dataclass(frozen=True)
class AddressPolicy:
    """Globally routable addresses pass; private ones only when listed in `allow`."""

    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_allow_list(cls, entries: list[str]) -> AddressPolicy:
        """Parse `IMAGINE_FETCH_ALLOW` entries: CIDRs, addresses or host names."""
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for entry in entries:
            text = entry.strip().strip("[]")
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                hosts.add(text.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def host_allowed(self, host: str) -> bool:
        """Whether the host name itself was opened by the operator."""
        return host.lower().rstrip(".") in self.allow_hosts

    def _listed(self, address: IPAddress) -> bool:
        forms: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            forms.append(address.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
        return any(form in net for form in forms for net in self.allow_networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be dialled (naming it), or None when it may."""
        kind = self.refused_kind(address)
        return None if kind is None else f"{address} is {kind}"

    def refused_kind(self, address: IPAddress) -> str | None:
        """The kind of refused destination `address` is, without the address, or None."""
        if self._listed(address):
            return None
        return refusal_kind(address)

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether a resolved address may be dialled."""
        return self.refusal(address) is None
