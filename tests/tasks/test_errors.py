"""Every status code and error body of the contract, through HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imagine.catalog import default_catalog
from tests.conftest import Api
from tests.support import ImageHost, image_bytes


async def test_401_for_missing_unknown_and_revoked_keys(api: Api) -> None:
    for headers in ({}, {"Authorization": "japi_live_nope"}, {"Authorization": "Bearer"}):
        for method, path in [
            ("POST", "/api/v1/imagine"),
            ("POST", "/api/v1/fetch"),
            ("POST", "/api/v1/fetch-many"),
            ("GET", "/api/v1/account"),
        ]:
            r = await api.client.request(method, path, json={}, headers=headers)
            assert r.status_code == 401, (path, headers)
            assert r.json() == {}
    key = await api.account()
    from imagine import admin

    assert (await admin.revoke_key(api.sessions, api.clock, selector=key[:20])).prefix == key[:18]
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    assert r.status_code == 401
    assert r.json() == {}


async def test_401_comes_before_validation(api: Api) -> None:
    r = await api.client.post("/api/v1/imagine", content=b"{not json")
    assert r.status_code == 401
    assert r.json() == {}


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({"image_url": "http://127.0.0.1/x.jpg"}, ["prompt is required"]),
        ({"prompt": "   ", "image_url": "http://127.0.0.1/x.jpg"}, ["prompt is required"]),
        ({"prompt": None, "image_url": "http://127.0.0.1/x.jpg"}, ["prompt is required"]),
        (
            {"prompt": "x" * 4001, "image_url": "http://127.0.0.1/x.jpg"},
            ["prompt must be at most 4000 characters"],
        ),
        ({"prompt": "blur"}, ["image_url is required"]),
        ({}, ["prompt is required", "image_url is required"]),
        (
            {"prompt": "blur", "image_url": "ftp://127.0.0.1/x.jpg"},
            ["image_url must be an http(s) URL or a data:image URI"],
        ),
        (
            {"prompt": "blur", "image_url": "data:text/plain;base64,AAAA"},
            ["image_url data URI must look like data:image/<type>;base64,<data>"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "model": "dall-e"},
            [f"model must be one of: {', '.join(sorted(default_catalog()))}"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "aspect_ratio": "5:4"},
            ["aspect_ratio must be one of: 1:1 16:9 9:16 4:3 3:4 3:2 2:3 auto"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "output_format": "gif"},
            ["output_format must be png or jpeg"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "seed": -1},
            ["seed must be between 0 and 9223372036854775807"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "webhook_url": "mailto:a@b"},
            ["webhook_url must be an http(s) URL"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "webhook_secret": "s" * 300},
            ["webhook_secret must be at most 256 characters"],
        ),
        ({"prompt": 5, "image_url": "http://127.0.0.1/x.jpg"}, ["prompt must be a string"]),
        ({"prompt": "blur", "image_url": ["a"]}, ["image_url must be a string"]),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "seed": "1"},
            ["seed must be an integer"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "seed": 1.5},
            ["seed must be an integer"],
        ),
        (
            {"prompt": "blur", "image_url": "http://127.0.0.1/x.jpg", "seed": True},
            ["seed must be an integer"],
        ),
        (
            {"prompt": True, "model": 3, "image_url": "http://127.0.0.1/x.jpg"},
            ["prompt must be a string", "model must be a string"],
        ),
    ],
)
async def test_400_validation_messages(api: Api, body: dict[str, Any], messages: list[str]) -> None:
    key = await api.account()
    r = await api.imagine(key, **body)
    assert r.status_code == 400, r.text
    assert r.json() == {"errors": [{"msg": m} for m in messages]}
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 1000


async def test_400_for_malformed_json_and_non_objects(api: Api) -> None:
    key = await api.account()
    headers = {"Authorization": key, "content-type": "application/json"}
    for raw, msg in [
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object"),
        (b'"prompt"', "request body must be a JSON object"),
        (b"", "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
    ]:
        r = await api.client.post("/api/v1/imagine", content=raw, headers=headers)
        assert r.status_code == 400, (raw, r.text)
        assert r.json() == {"errors": [{"msg": msg}]}


async def test_unknown_fields_are_ignored(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url, frobnicate={"a": 1}, n=4)
    assert r.status_code == 200, r.text


async def test_402_insufficient_credits(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=7)
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 402
    assert r.json() == {"errors": [{"msg": "Insufficient credits"}]}
    assert image_host.hits == []  # refused before any fetch
    r = await api.imagine(key, prompt="blur", image_url=url, model="flux-kontext-pro")
    assert r.status_code == 200


async def test_429_when_concurrency_limit_is_full(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=1000, plan="basic")
    slow = image_host.add("/slow.jpg", image_bytes())
    image_host.routes["/slow.jpg"].delay = 1.5
    results = await asyncio.gather(
        *[api.imagine(key, prompt="blur", image_url=slow) for _ in range(8)]
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(200) == 5
    assert codes.count(429) == 3
    for r in results:
        if r.status_code == 429:
            assert r.json() == {"errors": [{"msg": "Rate limit exceeded"}]}
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 1000 - 5 * 8


async def test_fetch_failure_is_admitted_failure_and_refunded(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=8)
    headers = {"Authorization": key}
    missing = image_host.base + "/missing.jpg"
    r = await api.imagine(key, prompt="blur", image_url=missing)
    assert r.status_code == 400
    body = r.json()
    assert body["errors"] == [{"msg": "image_url could not be fetched: HTTP 404"}]
    task = (
        await api.client.post("/api/v1/fetch", json={"task_id": body["task_id"]}, headers=headers)
    ).json()
    assert task["status"] == "failed"
    assert task["error"] == "image_url could not be fetched: HTTP 404"
    assert task["image_url"] is None
    assert (await api.client.get("/api/v1/account", headers=headers)).json()["credits"] == 8


async def test_decode_failure_is_refunded(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=8)
    for path, data in [
        ("/t.jpg", image_bytes()[:300]),
        ("/txt.jpg", b"hello world" * 50),
        ("/g.gif", b"GIF89a" + b"\x00" * 100),
    ]:
        url = image_host.add(path, data)
        r = await api.imagine(key, prompt="blur", image_url=url)
        assert r.status_code == 400, r.text
        assert "task_id" in r.json()
        assert r.json()["errors"][0]["msg"].startswith("image_url")
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 8
    assert account["total_images"] == 0


@pytest.mark.parametrize("settings_overrides", [{"fetch_max_bytes": 10_000}])
async def test_oversized_download_is_refused(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    url = image_host.add("/big.jpg", image_bytes((2000, 2000), quality=100))
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 400
    assert r.json()["errors"] == [{"msg": "image_url is larger than 10000 bytes"}]


async def test_private_address_refused_unless_allowed(api: Api) -> None:
    key = await api.account(credits=8)
    r = await api.imagine(key, prompt="blur", image_url="http://127.0.0.2:9/x.jpg")
    assert r.status_code == 400
    assert "private or reserved address" in r.json()["errors"][0]["msg"]
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 8


@pytest.mark.parametrize("settings_overrides", [{"max_body_bytes": 1000}])
async def test_413_for_oversized_body(api: Api) -> None:
    key = await api.account()
    headers = {"Authorization": key, "content-type": "application/json"}
    r = await api.client.post("/api/v1/imagine", content=b"{" + b" " * 5000 + b"}", headers=headers)
    assert r.status_code == 413
    assert r.json() == {"errors": [{"msg": "request body must be at most 1000 bytes"}]}

    async def chunks():  # no content-length: the cap applies while streaming
        for _ in range(10):
            yield b" " * 500

    r = await api.client.post("/api/v1/imagine", content=chunks(), headers=headers)
    assert r.status_code == 413
    assert r.json()["errors"][0]["msg"].startswith("request body")
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 1000


@pytest.mark.parametrize("settings_overrides", [{"non_english": "reject"}])
async def test_non_english_prompt_rejected_when_configured(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="change la couleur de la voiture en noir mat", image_url=url)
    assert r.status_code == 400
    assert r.json() == {"errors": [{"msg": "prompt must be in English (detected language: fr)"}]}
    assert image_host.hits == []
    r = await api.imagine(key, prompt="make the car black and white", image_url=url)
    assert r.status_code == 200


@pytest.mark.parametrize(
    "settings_overrides",
    [{"engines": {"flux-kontext-max": ["nonexistent"]}, "allow_offline_fallback": False}],
)
async def test_503_when_model_has_no_engine(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=8)
    url = image_host.add("/x.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 503
    assert r.json()["errors"][0]["msg"].startswith("model flux-kontext-max is not available")
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    available = {m["id"]: m["available"] for m in models["models"]}
    assert available == {m: m != "flux-kontext-max" for m in default_catalog()}
    r = await api.imagine(key, prompt="blur", image_url=url, model="flux-kontext-pro")
    assert r.status_code == 200


async def test_404_for_unknown_routes_has_error_shape(api: Api) -> None:
    r = await api.client.get("/nothing")
    assert r.status_code == 404
    assert r.json() == {"errors": [{"msg": "Not found"}]}
    key = await api.account()
    r = await api.client.get("/api/v2/nothing", headers={"Authorization": key})
    assert r.status_code == 404
    assert r.json() == {"errors": [{"msg": "Not found"}]}


async def test_keyless_requests_get_401_before_their_body_is_read(api: Api) -> None:
    headers = {"content-type": "application/json"}
    r = await api.client.post("/api/v1/imagine", content=b"{not json", headers=headers)
    assert (r.status_code, r.json()) == (401, {})

    r = await api.client.post(
        "/api/v1/account",
        content=b"x" * 1_000_000,
        headers={**headers, "Authorization": "japi_live_wrong"},
    )
    assert (r.status_code, r.json()) == (401, {})


async def test_the_gate_never_reads_a_keyless_body() -> None:
    from imagine.http.auth import AuthGateMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not run")

    async def receive() -> Any:
        raise AssertionError("the body must not be read")

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def lookup(key: str) -> None:
        return None

    gate = AuthGateMiddleware(app, lookup)
    scope = {
        "type": "http",
        "path": "/api/v1/imagine",
        "headers": [(b"authorization", b"japi_live_unknown")],
    }
    await gate(scope, receive, send)
    assert sent[0]["status"] == 401
    assert sent[1]["body"] == b"{}"


async def test_form_content_type_is_named_in_the_error(api: Api) -> None:
    key = await api.account()
    r = await api.client.post(
        "/api/v1/imagine",
        content=b'{"prompt": "blur"}',
        headers={"Authorization": key, "content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400
    assert r.json() == {
        "errors": [
            {"msg": "request body must be a JSON object (send Content-Type: application/json)"}
        ]
    }


async def test_non_ascii_webhook_secret_is_refused(api: Api) -> None:
    key = await api.account()
    r = await api.imagine(
        key,
        prompt="blur",
        image_url="http://127.0.0.1/x.jpg",
        webhook_url="http://127.0.0.1/hook",
        webhook_secret="sécret",
    )
    assert r.status_code == 400
    assert r.json() == {"errors": [{"msg": "webhook_secret must be printable ASCII"}]}
