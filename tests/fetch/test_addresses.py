"""Literal host normalisation and the address policy, property-tested."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagine.fetch.addresses import BadHost, embedded_ipv4, parse_host, refusal_reason
from imagine.fetch.policy import AddressPolicy


def _forms(address: ipaddress.IPv4Address, style: int) -> str:
    n = int(address)
    octets = [int(o) for o in str(address).split(".")]
    forms = [
        str(n),
        hex(n),
        ".".join(oct(o).replace("0o", "0") for o in octets),
        ".".join(hex(o) for o in octets),
        f"{octets[0]}.{n & 0xFFFFFF}",
        f"{octets[0]}.{octets[1]}.{n & 0xFFFF}",
        f"{address}.",
        f"{octets[0]}.{hex(n & 0xFFFFFF)}",
    ]
    return forms[style % len(forms)]


@given(st.integers(0, 2**32 - 1), st.integers(0, 7))
def test_every_ipv4_literal_form_denotes_the_same_address(number: int, style: int) -> None:
    address = ipaddress.IPv4Address(number)
    assert parse_host(_forms(address, style)) == address


@given(st.integers(0, 2**32 - 1))
def test_ipv6_wrappers_are_judged_by_the_ipv4_they_carry(number: int) -> None:
    v4 = ipaddress.IPv4Address(number)
    wrapped = [
        ipaddress.IPv6Address(f"::ffff:{v4}"),
        ipaddress.IPv6Address((0x2002 << 112) | (number << 80)),
        ipaddress.IPv6Address(f"64:ff9b::{v4}"),
    ]
    for address in wrapped:
        assert embedded_ipv4(address) == v4
        if refusal_reason(v4) is not None:
            assert refusal_reason(address) is not None, address


@pytest.mark.parametrize(
    "host",
    [
        "",
        "a..b",
        "exa mple.com",
        "127.0.0.1%2e",
        "fe80::1%eth0",
        "1.2.3.4.5",
        "256.0.0.1",
        "host.123",
        "[::1",
        "x" * 300,
        "a_b$.com",
        "::ffff:zz",
    ],
)
def test_bad_hosts(host: str) -> None:
    with pytest.raises(BadHost):
        parse_host(host)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_allow_list_opens_networks_names_and_mapped_forms_only() -> None:
    policy = AddressPolicy.from_allow_list(["127.0.0.1/32", " [::1] ", "minio.internal.", ""])
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert policy.address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert policy.address_allowed(ipaddress.ip_address("::1"))
    assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    assert not policy.address_allowed(ipaddress.ip_address("169.254.169.254"))
    assert policy.host_allowed("MINIO.internal")
    assert not policy.host_allowed("internal")
