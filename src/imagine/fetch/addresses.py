"""Host and address normalisation: the literal forms a URL can hide an address in.

`inet_aton`-style resolvers accept `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` as
127.0.0.1, so every such form is parsed here before any check; IPv6 addresses that embed an
IPv4 address (mapped, compatible, 6to4, NAT64) are judged by the address they embed too.
"""

from __future__ import annotations

import ipaddress
import re

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOST_NAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)$")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIIT = ipaddress.ip_network("::ffff:0:0:0/96")


class BadHost(ValueError):
    """The host part of a URL is not a valid name or address."""


def _number(part: str) -> int:
    if part.startswith("0x"):
        return int(part[2:] or "0", 16)
    return int(part, 8) if part.startswith("0") else int(part)


def _ipv4_from_parts(text: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton forms: 1 to 4 parts, each decimal, octal (0…) or hex (0x…)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values = [_number(p) for p in parts]
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise BadHost(f"invalid IPv4 address {text!r}")
    number = 0
    for value in head:
        number = number * 256 + value
    number = number * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(number)


def parse_host(host: str) -> IPAddress | str:
    """The address a URL host denotes, or its normalised DNS name; BadHost when neither."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if "%" in text:
        # Percent-escapes and IPv6 zone ids (fe80::1%eth0) only hide link-local targets.
        raise BadHost("host must not contain '%'")
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise BadHost("host is empty")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError as exc:
            raise BadHost(f"invalid IPv6 address {host!r}") from exc
    address = _ipv4_from_parts(text)
    if address is not None:
        return address
    if len(text) > 253 or not _HOST_NAME.match(text):
        raise BadHost(f"invalid host name {host!r}")
    if text.rsplit(".", 1)[-1].isdigit():
        # A name whose last label is numeric is an address to some resolvers: refuse it.
        raise BadHost(f"invalid host name {host!r}")
    return text


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, SIIT, 6to4, NAT64)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _SIIT:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))  # deprecated IPv4-compatible ::a.b.c.d
    return None


def refusal_kind(address: IPAddress) -> str | None:
    """What kind of non-public destination `address` is ("a loopback address"…), or None
    when it is globally routable. Says nothing of the address itself, for client-facing text
    about names the client did not resolve itself."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        inner = embedded_ipv4(address)
        if inner is not None:
            candidates.insert(0, inner)
    for candidate in candidates:
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_link_local:
            return "a link-local address (cloud metadata lives there)"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_unspecified:
            return "the unspecified address"
        if candidate.is_private or not candidate.is_global:
            return "a private or reserved address"
    return None


def refusal_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public destination, or None when it is globally routable."""
    kind = refusal_kind(address)
    return None if kind is None else f"{address} is {kind}"
