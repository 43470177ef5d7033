"""Webhook fields that could never be delivered (or would forge CLI lines) are refused, and
refusals never tell the client what a host name resolves to inside our network."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from structlog.testing import capture_logs

from imagine.fetch.addresses import IPAddress
from imagine.fetch.resolver import SystemResolver
from tests.conftest import Api

IMG = "http://127.0.0.1/x.jpg"
HOOK = "http://127.0.0.1:9/hook"


async def _refused(api: Api, **fields: Any) -> list[str]:
    key = await api.account()
    r = await api.imagine(key, prompt="blur", image_url=IMG, **fields)
    assert r.status_code == 400, r.text
    assert "task_id" not in r.json()  # refused before admission
    return [e["msg"] for e in r.json()["errors"]]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (" s3cret", "webhook_secret must not start or end with whitespace"),
        ("s3cret ", "webhook_secret must not start or end with whitespace"),
        ("s3cret\t", "webhook_secret must not contain control characters"),
        ("s3\tcret", "webhook_secret must not contain control characters"),
        ("s3\x1b[2Jcret", "webhook_secret must not contain control characters"),
        ("s3\x7fcret", "webhook_secret must not contain control characters"),
    ],
)
async def test_webhook_secret_that_http_would_mangle_is_refused(
    api: Api, secret: str, message: str
) -> None:
    assert await _refused(api, webhook_url=HOOK, webhook_secret=secret) == [message]


@pytest.mark.parametrize(
    "url",
    [
        HOOK + "\nmsg_forged  task t  delivered",
        HOOK + "\rX-Forged: 1",
        HOOK + "?a=\tb",
        HOOK + "/a b",
        HOOK + "\x1b[2J",
        HOOK + "\u2028next",
        HOOK + "\u202eevil",
        HOOK + "\u00a0x",
    ],
)
async def test_webhook_url_with_whitespace_or_control_characters_is_refused(
    api: Api, url: str
) -> None:
    messages = await _refused(api, webhook_url=url)
    assert messages == ["webhook_url must not contain whitespace or control characters"]


async def test_a_clean_secret_with_inner_spaces_is_still_accepted(api: Api) -> None:
    key = await api.account()
    r = await api.imagine(
        key, prompt="blur", image_url="data:image/png;base64,xx", webhook_secret="a b"
    )
    assert not any("webhook_secret" in e["msg"] for e in r.json().get("errors", []))


async def test_a_name_resolving_inside_is_refused_without_naming_the_address(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = SystemResolver.resolve

    async def resolve(self: SystemResolver, host: str, port: int) -> list[IPAddress]:
        if host == "intranet.example":
            return [ipaddress.ip_address("10.20.30.40")]
        return await real(self, host, port)

    monkeypatch.setattr(SystemResolver, "resolve", resolve)
    key = await api.account()
    with capture_logs() as logs:
        r = await api.imagine(key, prompt="blur", image_url="http://intranet.example/x.jpg")
    assert r.status_code == 400, r.text
    [message] = [e["msg"] for e in r.json()["errors"]]
    assert "intranet.example resolves to a private or reserved address" in message
    assert "10.20.30.40" not in r.text
    # the operator still learns where it pointed
    assert any(e.get("address") == "10.20.30.40" for e in logs), logs
