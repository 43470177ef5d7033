"""The hostile URL corpus: every form is refused and no refused address is ever dialled.

Live targets are 127.0.0.2 (loopback, but not opened by the harness's 127.0.0.1/32);
every other target only reaches the recording stub, never the network.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imagine.errors import ImageRejected
from imagine.fetch.policy import DestinationRefused
from imagine.settings import Settings
from tests.fetch.stubs import Guarded, RawServer, guarded, raw_server
from tests.support import ImageHost, image_bytes

P = "{port}"  # the live 127.0.0.2 server's port
LITERALS = [
    f"http://127.0.0.2:{P}/x.jpg",
    f"http://2130706434:{P}/x.jpg",
    f"http://0x7f000002:{P}/x.jpg",
    f"http://0177.0.0.2:{P}/x.jpg",
    f"http://0x7f.0.0.2:{P}/x.jpg",
    f"http://0x7f.0x0.0x0.0x2:{P}/x.jpg",
    f"http://127.2:{P}/x.jpg",
    f"http://127.0.2:{P}/x.jpg",
    f"http://127.0.0.2.:{P}/x.jpg",
    f"http://[::ffff:127.0.0.2]:{P}/x.jpg",
    f"http://[::ffff:7f00:2]:{P}/x.jpg",
    f"http://[::127.0.0.2]:{P}/x.jpg",
    f"http://[2002:7f00:2::]:{P}/x.jpg",
    f"http://[64:ff9b::7f00:2]:{P}/x.jpg",
    f"http://[::ffff:0:7f00:2]:{P}/x.jpg",
    f"http://user:pass@127.0.0.2:{P}/x.jpg",
    f"http://images.example.com@127.0.0.2:{P}/x.jpg",
    f"http://127.0.0.2:{P}#@images.example.com/x.jpg",
    f"http://127.0.0.2%2e:{P}/x.jpg",
    f"http://localhost:{P}/x.jpg",
    f"http://LOCALHOST.:{P}/x.jpg",
    f"http://metadata.localhost:{P}/x.jpg",
    f"http://0.0.0.0:{P}/x.jpg",
    f"http://0:{P}/x.jpg",
    f"http://[::]:{P}/x.jpg",
    f"http://[::1]:{P}/x.jpg",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://2852039166/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1%25eth0]/x.jpg",
    "http://[fe80::a9fe:a9fe]/x.jpg",
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
    "http://[2002:a9fe:a9fe::]/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[64:ff9b:1::a00:1]/x.jpg",
    "http://10.0.0.1/x.jpg",
    "http://10.1/x.jpg",
    "http://172.16.5.4/x.jpg",
    "http://192.168.1.1/x.jpg",
    "http://100.64.0.1/x.jpg",
    "http://192.0.0.170/x.jpg",
    "http://192.0.2.1/x.jpg",
    "http://198.18.0.1/x.jpg",
    "http://240.0.0.1/x.jpg",
    "http://224.0.0.1/x.jpg",
    "http://255.255.255.255/x.jpg",
    "https://[fc00::1]/x.jpg",
    "https://[ff02::1]/x.jpg",
    "https://[2001:db8::1]/x.jpg",
    "ftp://images.example.com/x.jpg",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_GET",
    "dict://127.0.0.1:11211/stats",
]
# host → DNS answer; each must be refused because at least one answer is not public.
NAMES = {
    "metadata.google.internal": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "10.0.0.5"],
    "mixed6.example": ["2606:4700::1111", "fd00::1"],
    "internal.example": ["127.0.0.2"],
    "aaaa-only.example": ["::1"],
    "mapped.example": ["::ffff:169.254.169.254"],
    "cgnat.example": ["100.100.100.200"],
    "nat64.example": ["64:ff9b::a00:1"],
}
REDIRECT_TARGETS = [
    "http://169.254.169.254/latest/meta-data/",
    f"http://127.0.0.2:{P}/x.jpg",
    f"http://2130706434:{P}/x.jpg",
    f"http://localhost:{P}/x.jpg",
    f"http://[::ffff:127.0.0.2]:{P}/x.jpg",
    "http://internal.example/x.jpg",
    "http://mixed.example/x.jpg",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_GET",
]


def _accept_and_close(conn: socket.socket) -> None:
    conn.close()


@pytest.fixture(scope="module")
def forbidden() -> Iterator[RawServer]:
    """A live server on 127.0.0.2 that must never see a connection."""
    with raw_server(_accept_and_close, host="127.0.0.2") as server:
        yield server


@pytest.fixture
def g(tmp_path: Path) -> Guarded:
    """The production client over the stubs, with the harness's allow-list."""
    settings = Settings(data_dir=tmp_path, fetch_allow=["127.0.0.1/32"], fetch_deadline=5)
    out = guarded(settings)
    for host, answer in NAMES.items():
        out.resolver.set(host, answer)
    return out


def _assert_nothing_refused_was_dialled(g: Guarded, forbidden: RawServer, allowed: int) -> None:
    assert forbidden.connections == 0
    assert all(ip == "127.0.0.1" and port == allowed for ip, port in g.backend.dialled), (
        g.backend.dialled
    )


def test_corpus_is_big_enough() -> None:
    assert len(LITERALS) + len(NAMES) + len(REDIRECT_TARGETS) >= 40


@pytest.mark.parametrize("template", LITERALS)
async def test_literal_forms_refused(g: Guarded, forbidden: RawServer, template: str) -> None:
    url = template.replace(P, str(forbidden.port))
    with pytest.raises(ImageRejected) as info:
        await g.fetcher.fetch(url)
    assert info.value.messages[0].startswith("image_url ")
    assert info.value.status == 400
    # The raw client (webhooks, engines) refuses the same URLs on its own.
    with pytest.raises((httpx.HTTPError, httpx.InvalidURL)):
        await g.client.post(url, json={})
    _assert_nothing_refused_was_dialled(g, forbidden, allowed=-1)
    assert g.backend.dialled == []


@pytest.mark.parametrize("host", sorted(NAMES))
async def test_names_resolving_to_private_addresses_refused(
    g: Guarded, forbidden: RawServer, host: str
) -> None:
    with pytest.raises(ImageRejected) as info:
        await g.fetcher.fetch(f"http://{host}:{forbidden.port}/x.jpg")
    assert "private or reserved address" in info.value.messages[0]
    with pytest.raises(DestinationRefused):
        await g.client.get(f"https://{host}/hook")
    assert g.resolver.lookups == [host, host]
    _assert_nothing_refused_was_dialled(g, forbidden, allowed=-1)
    assert g.backend.dialled == []


@pytest.mark.parametrize("target", REDIRECT_TARGETS)
async def test_redirects_to_private_addresses_refused(
    g: Guarded, forbidden: RawServer, image_host: ImageHost, target: str
) -> None:
    # A public-looking name served from loopback (opened for the test) redirects inward.
    g.resolver.set("images.example.com", ["127.0.0.1"])
    host_port = int(image_host.base.rsplit(":", 1)[1])
    location = target.replace(P, str(forbidden.port))
    image_host.add("/r", b"", status=302, location=location)
    url = f"http://images.example.com:{host_port}/r"
    with pytest.raises(ImageRejected) as info:
        await g.fetcher.fetch(url)
    assert "after a redirect" in info.value.messages[0] or "private" in info.value.messages[0]
    # Even when a caller asks httpx to follow redirects, every hop goes through the guard.
    with pytest.raises(httpx.HTTPError):
        await g.client.get(url, follow_redirects=True)
    assert image_host.hits == ["/r", "/r"]
    _assert_nothing_refused_was_dialled(g, forbidden, allowed=host_port)


async def test_dns_rebinding_dials_the_checked_address(g: Guarded) -> None:
    # First answer public, every later one private: only one lookup may happen per dial.
    g.resolver.set("rebind.example", ["93.184.216.34"], ["127.0.0.2"])
    with pytest.raises(ImageRejected):
        await g.fetcher.fetch("http://rebind.example/x.jpg")
    assert g.resolver.lookups == ["rebind.example"]
    assert g.backend.dialled == [("93.184.216.34", 80)]  # the stub refused; nothing left


async def test_public_names_are_dialled_by_pinned_ip(g: Guarded) -> None:
    g.resolver.set("cdn.example", ["2606:4700::1111", "93.184.216.34"])
    with pytest.raises(httpx.ConnectError):
        await g.client.get("https://cdn.example/x.jpg")
    assert g.backend.dialled == [("2606:4700::1111", 443), ("93.184.216.34", 443)]


async def test_allowed_loopback_still_works(g: Guarded, image_host: ImageHost) -> None:
    data = image_bytes((32, 32))
    url = image_host.add("/ok.jpg", data)
    assert await g.fetcher.fetch(url) == data
    g.resolver.set("images.example.com", ["127.0.0.1"])
    named = url.replace("127.0.0.1", "images.example.com")
    image_host.add("/hop", b"", status=301, location=named)
    assert await g.fetcher.fetch(image_host.base + "/hop") == data


async def test_allow_list_opens_exactly_what_it_names(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, fetch_allow=["10.0.0.0/8", "minio.internal"])
    g = guarded(settings)
    g.resolver.set("minio.internal", ["192.168.7.7"])
    g.resolver.set("other.internal", ["192.168.7.7"])
    for url in ("http://10.1.2.3/x", "http://minio.internal/x"):
        with pytest.raises(httpx.ConnectError) as info:
            await g.client.get(url)
        assert not isinstance(info.value, DestinationRefused)
    for url in ("http://11.0.0.1.5/x", "http://other.internal/x", "http://172.16.0.1/x"):
        with pytest.raises(DestinationRefused):
            await g.client.get(url)
    assert g.backend.dialled == [("10.1.2.3", 80), ("192.168.7.7", 80)]


async def test_too_many_redirects(g: Guarded, image_host: ImageHost) -> None:
    for i in range(5):
        image_host.add(f"/loop{i}", b"", status=302, location=f"/loop{i + 1}")
    with pytest.raises(ImageRejected, match="more than 3 redirects"):
        await g.fetcher.fetch(image_host.base + "/loop0")
    assert image_host.hits == ["/loop0", "/loop1", "/loop2", "/loop3"]
    with pytest.raises(httpx.TooManyRedirects):
        await g.client.get(image_host.base + "/loop0", follow_redirects=True)


async def test_client_never_follows_redirects_by_default(g: Guarded, image_host: ImageHost) -> None:
    image_host.add("/moved", b"", status=307, location="http://169.254.169.254/")
    r = await g.client.get(image_host.base + "/moved")
    assert r.status_code == 307
    assert g.backend.dialled == [("127.0.0.1", int(image_host.base.rsplit(":", 1)[1]))]


async def test_production_wiring_refuses_without_any_stub(
    tmp_path: Path, forbidden: RawServer
) -> None:
    # The client exactly as services build it: system resolver, real sockets. Only
    # loopback targets here, so a broken guard could not reach beyond this machine.
    from imagine.fetch.client import build_outbound_client

    settings = Settings(data_dir=tmp_path, fetch_allow=["127.0.0.1/32"])
    async with build_outbound_client(settings) as client:
        for url in (
            f"http://127.0.0.2:{forbidden.port}/",
            f"http://2130706434:{forbidden.port}/",
            f"http://localhost:{forbidden.port}/",
            f"http://[::ffff:127.0.0.2]:{forbidden.port}/",
        ):
            with pytest.raises(DestinationRefused):
                await client.get(url, follow_redirects=True)
    assert forbidden.connections == 0


async def test_unknown_names_and_dead_ports_have_clear_messages(g: Guarded) -> None:
    with pytest.raises(ImageRejected, match="could not be fetched: host not found"):
        await g.fetcher.fetch("http://nowhere.example/x.jpg")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(ImageRejected, match="could not be fetched: no connection"):
        await g.fetcher.fetch(f"http://127.0.0.1:{port}/x.jpg")
