"""HTTP edge guards (issue 18): a body that stalls gets 408 and frees its connection; one
account cannot hold more than IMAGINE_MAX_UPLOADS_PER_ACCOUNT bodies in flight; API answers
are `no-store` and `nosniff`; /metrics can require a token. Raw sockets on loopback, each
bounded in time."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from tests.conftest import Api


async def _open(api: Api) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(api.url)
    return await asyncio.open_connection(parts.hostname, parts.port)


def _head(key: str, length: int) -> bytes:
    return (
        "POST /api/v1/imagine HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: {key}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    async with asyncio.timeout(10):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


@pytest.mark.parametrize("settings_overrides", [{"body_timeout": 0.5}])
async def test_a_stalled_body_gets_408_and_the_connection_closes(api: Api) -> None:
    key = await api.account()
    reader, writer = await _open(api)
    writer.write(_head(key, 100_000) + b'{"prompt": "')  # …and nothing more
    await writer.drain()
    status, _, body = await _answer(reader)
    assert status == 408
    assert json.loads(body) == {"errors": [{"msg": "request body was not received within 0.5 s"}]}
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the server
    writer.close()


@pytest.mark.parametrize(
    "settings_overrides", [{"max_uploads_per_account": 2, "body_timeout": 2.0}]
)
async def test_one_account_cannot_hold_many_uploads(api: Api) -> None:
    key = await api.account()
    other = await api.account("other@example.com")
    stalled = []
    for _ in range(2):
        reader, writer = await _open(api)
        writer.write(_head(key, 100_000) + b"{")
        await writer.drain()
        stalled.append((reader, writer))
    await asyncio.sleep(0.3)  # both bodies are being received
    reader, writer = await _open(api)
    writer.write(_head(key, 100_000))
    await writer.drain()
    status, headers, body = await _answer(reader)
    assert (status, json.loads(body)) == (429, {"errors": [{"msg": "Rate limit exceeded"}]})
    assert headers["retry-after"] == "1"
    writer.close()
    # A small body is not an upload: the same account's JSON requests still pass.
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": "x"}, headers={"Authorization": key}
    )
    assert r.status_code == 404
    # Another account is not affected.
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": "x"}, headers={"Authorization": other}
    )
    assert r.status_code == 404
    # Once an upload ends (the client leaves), the account may upload again.
    for _, w in stalled:
        w.close()
    await asyncio.sleep(0.3)
    reader, writer = await _open(api)
    writer.write(_head(key, 100_000) + b"{")
    await writer.drain()
    status, _, _ = await _answer(reader)  # the body stalls: 408, not 429
    assert status == 408
    writer.close()


async def test_api_answers_are_not_cached_or_sniffed(api: Api) -> None:
    key = await api.account()
    for r in (
        await api.client.get("/api/v1/account", headers={"Authorization": key}),
        await api.client.get("/api/v1/account"),
        await api.client.post("/api/v1/fetch", json={}, headers={"Authorization": key}),
    ):
        assert r.headers["cache-control"] == "no-store", r.status_code
        assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": "m-secret"}])
async def test_metrics_can_require_a_token(api: Api) -> None:
    assert (await api.client.get("/metrics")).status_code == 401
    wrong = await api.client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (401, {})
    r = await api.client.get("/metrics", headers={"Authorization": "Bearer m-secret"})
    assert r.status_code == 200 and "imagine_tasks_total" in r.text


async def test_metrics_are_open_without_a_token(api: Api) -> None:
    assert (await api.client.get("/metrics")).status_code == 200
