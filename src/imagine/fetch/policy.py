"""Which addresses outbound requests may reach: public ones, plus what IMAGINE_FETCH_ALLOW opens."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


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
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def host_allowed(self, host: str) -> bool:
        """Whether the host name itself was opened by the operator."""
        return host.lower().rstrip(".") in self.allow_hosts

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether a resolved address may be dialled."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.allow_networks):
            return True
        return address.is_global and not address.is_multicast
