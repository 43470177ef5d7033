"""Hostile request bodies: every refusal names the field and the reason, and costs nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import Api

JSON = "application/json"
IMG = "http://127.0.0.1/x.jpg"


async def _credits(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """A small body cap so the limit is cheap to hit."""
    return {"max_body_bytes": 10_000}


async def test_chunked_body_over_the_cap_is_413(api: Api) -> None:
    key = await api.account()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(100):
            yield b"a" * 1000
        yield b'"}'

    r = await api.client.post(
        "/api/v1/imagine", content=chunks(), headers={"Authorization": key, "content-type": JSON}
    )
    assert "content-length" not in r.request.headers  # really chunked
    assert r.status_code == 413
    assert r.json()["errors"][0]["msg"].startswith("request body ")
    assert await _credits(api, key) == 1000


async def test_declared_body_over_the_cap_is_413(api: Api) -> None:
    key = await api.account()
    r = await api.client.post(
        "/api/v1/imagine",
        content=b'{"prompt": "' + b"a" * 20_000 + b'"}',
        headers={"Authorization": key, "content-type": JSON},
    )
    assert r.status_code == 413
    assert r.json()["errors"][0]["msg"].startswith("request body must be at most")


CASES: list[tuple[dict[str, Any], str]] = [
    ({"prompt": "a\x00b", "image_url": IMG}, "prompt must not contain NUL"),
    ({"prompt": "blur", "image_url": IMG, "webhook_url": "http://a/\x00"}, "webhook_url must not"),
    ({"prompt": "blur", "image_url": "http://127.0.0.1/\x00.jpg"}, "image_url must not"),
    (
        {"prompt": "blur", "image_url": "http://169.254.169.254/latest/meta-data/"},
        "image_url points at a private or reserved address (169.254.169.254 is a link-local",
    ),
    ({"prompt": "blur", "image_url": "http://2130706434/x.jpg"}, "127.0.0.2 is a loopback"),
    ({"prompt": "blur", "image_url": "http://[::ffff:10.0.0.1]/x.jpg"}, "private"),
    ({"prompt": "blur", "image_url": "http://localhost/x.jpg"}, "loopback name"),
    ({"prompt": "blur", "image_url": "http://127.0.0.1%2e/x.jpg"}, "image_url is not allowed"),
    (
        {"prompt": "blur", "image_url": IMG, "webhook_url": "http://10.0.0.7/h"},
        "webhook_url points at a private or reserved address",
    ),
    (
        {"prompt": "blur", "image_url": "http://127.0.0.1/" + "a" * 2100},
        "image_url must be at most 2048 characters",
    ),
    (
        {"prompt": "blur", "image_url": IMG, "webhook_url": "https://e.com/" + "a" * 2100},
        "webhook_url must be at most 2048 characters",
    ),
    ({"prompt": "blur", "image_url": IMG, "webhook_secret": "s" * 257}, "webhook_secret must be"),
    ({"prompt": "blur", "image_url": IMG, "webhook_secret": "a\r\nb: c"}, "line breaks"),
    ({"prompt": "blur", "image_url": IMG, "seed": 2**100}, "seed must be between 0 and"),
    ({"prompt": "blur", "image_url": IMG, "seed": 1e300}, "seed must be an integer"),
    ({"prompt": ["blur"], "image_url": IMG}, "prompt must be a string"),
    ({"prompt": {"$ne": 1}, "image_url": IMG}, "prompt must be a string"),
    ({"prompt": "x" * 4001, "image_url": IMG}, "prompt must be at most 4000 characters"),
]


@pytest.mark.parametrize(("body", "message"), CASES)
async def test_hostile_fields_are_refused_before_admission(
    api: Api, body: dict[str, Any], message: str
) -> None:
    key = await api.account()
    r = await api.imagine(key, **body)
    assert r.status_code == 400, r.text
    out = r.json()
    assert "task_id" not in out  # refused before admission: no task, no reservation
    assert any(message in e["msg"] for e in out["errors"]), out
    assert await _credits(api, key) == 1000


async def test_lone_surrogates_are_refused(api: Api) -> None:
    key = await api.account()
    raw = b'{"prompt": "bad \\ud800 text", "image_url": "http://127.0.0.1/x.jpg"}'
    r = await api.client.post(
        "/api/v1/imagine", content=raw, headers={"Authorization": key, "content-type": JSON}
    )
    assert r.status_code == 400
    assert r.json() == {
        "errors": [{"msg": "prompt must be valid Unicode text (no lone surrogates)"}]
    }


async def test_deeply_nested_json_is_400_not_500(api: Api) -> None:
    key = await api.account()
    for raw in (b"[" * 3000 + b"]" * 3000, b'{"prompt": ' + b"[" * 3000 + b"]" * 3000 + b"}"):
        r = await api.client.post(
            "/api/v1/imagine", content=raw, headers={"Authorization": key, "content-type": JSON}
        )
        assert r.status_code == 400, r.text
        assert r.json()["errors"]
