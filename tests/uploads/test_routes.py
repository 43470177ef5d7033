"""POST/GET /api/v1/uploads and uploads as /imagine inputs, through real HTTP."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from imagine.db.schema import Upload
from tests.conftest import Api
from tests.hostile_images import png_bomb
from tests.support import ImageHost, image_bytes

PNG = image_bytes((640, 480), "PNG", color=(20, 90, 200))


def _encoded(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


async def _upload(api: Api, key: str, data: bytes = PNG, **kw: Any) -> Any:
    return await api.client.post(
        "/api/v1/uploads",
        files={"file": ("in.png", data, "image/png")},
        headers={"Authorization": key},
        **kw,
    )


async def _row(api: Api, upload_id: str) -> Upload | None:
    async with api.sessions() as session:
        return (await session.scalars(select(Upload).where(Upload.id == upload_id))).first()


async def test_multipart_upload_answers_201_with_its_url(api: Api) -> None:
    key = await api.account()
    r = await _upload(api, key)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {
        "upload_id",
        "image_url",
        "expires_at",
        "width",
        "height",
        "content_type",
        "bytes",
    }
    assert uuid.UUID(body["upload_id"])
    assert body["image_url"] == f"{api.url}/api/v1/uploads/{body['upload_id']}"
    assert (body["width"], body["height"]) == (640, 480)
    assert body["content_type"] == "image/png"
    assert body["bytes"] == len(PNG)
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires == api.clock.now() + timedelta(hours=1)
    got = await api.client.get(body["image_url"], headers={"Authorization": key})
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.content == PNG


async def test_raw_body_and_image_field_are_accepted(api: Api) -> None:
    key = await api.account()
    jpeg = image_bytes((300, 200))
    raw = await api.client.post(
        "/api/v1/uploads",
        content=jpeg,
        headers={"Authorization": key, "Content-Type": "image/jpeg"},
    )
    assert raw.status_code == 201, raw.text
    assert raw.json()["content_type"] == "image/jpeg"
    assert (raw.json()["width"], raw.json()["height"]) == (300, 200)
    named = await api.client.post(
        "/api/v1/uploads",
        files={"image": ("x.webp", image_bytes((64, 48), "WEBP"), "image/webp")},
        headers={"Authorization": key},
    )
    assert named.status_code == 201, named.text
    assert named.json()["content_type"] == "image/webp"


async def test_upload_works_as_image_url_with_its_pixels(api: Api) -> None:
    key = await api.account(credits=100)
    up = (await _upload(api, key)).json()
    r = await api.imagine(key, prompt="make it black and white", image_url=up["image_url"], seed=3)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "finished"
    # The same bytes sent inline give the same (deterministic) edit: the upload's pixels.
    inline = "data:image/png;base64," + base64.b64encode(PNG).decode()
    same = await api.imagine(key, prompt="make it black and white", image_url=inline, seed=3)
    assert same.status_code == 200, same.text
    out = (await api.client.get(r.json()["image_url"])).content
    assert out == (await api.client.get(same.json()["image_url"])).content
    assert Image.open(io.BytesIO(out)).size == (1024, 1024)


async def test_another_accounts_upload_is_unusable_and_hidden(api: Api) -> None:
    owner = await api.account("owner@example.com", credits=100)
    other = await api.account("other@example.com", credits=100)
    up = (await _upload(api, owner)).json()
    r = await api.imagine(other, prompt="blur", image_url=up["image_url"])
    assert r.status_code == 400
    msg = r.json()["errors"][0]["msg"]
    assert "upload" in msg
    assert r.json()["task_id"]
    unknown = await api.imagine(
        other, prompt="blur", image_url=f"{api.url}/api/v1/uploads/{uuid.uuid4()}"
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["msg"] == msg  # existence is not revealed
    credits = (await api.client.get("/api/v1/account", headers={"Authorization": other})).json()
    assert credits["credits"] == 100
    hidden = await api.client.get(up["image_url"], headers={"Authorization": other})
    assert hidden.status_code == 404
    assert hidden.json() == {"errors": [{"msg": "Upload not found"}]}
    assert (await api.client.get(up["image_url"])).status_code == 401


async def test_expired_upload_is_refused_then_swept(api: Api) -> None:
    from imagine.uploads.sweeper import sweep_expired_uploads

    key = await api.account(credits=100)
    up = (await _upload(api, key)).json()
    row = await _row(api, up["upload_id"])
    assert row is not None
    assert await api.services.store.get(row.object_name) == PNG
    api.clock.advance(timedelta(hours=1, seconds=1))
    r = await api.imagine(key, prompt="blur", image_url=up["image_url"])
    assert r.status_code == 400
    assert "upload" in r.json()["errors"][0]["msg"]
    got = await api.client.get(up["image_url"], headers={"Authorization": key})
    assert got.status_code == 404
    swept = await sweep_expired_uploads(api.sessions, api.services.store, api.clock)
    assert swept == 1
    assert await api.services.store.get(row.object_name) is None
    assert await _row(api, up["upload_id"]) is None


@pytest.mark.parametrize("settings_overrides", [{"fetch_max_bytes": 50_000}])
async def test_upload_over_the_input_limit_is_413(api: Api) -> None:
    key = await api.account()
    big = _encoded(Image.frombytes("RGB", (200, 200), os.urandom(120_000)), "PNG")
    assert len(big) > 50_000

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    for kw in (
        {"files": {"file": ("big.png", big, "image/png")}},
        {"content": big, "headers": {"Content-Type": "image/png"}},
        {"content": chunked(), "headers": {"Content-Type": "image/png"}},  # no length given
    ):
        headers = {"Authorization": key, **kw.pop("headers", {})}  # type: ignore[dict-item]
        r = await api.client.post("/api/v1/uploads", headers=headers, **kw)  # type: ignore[arg-type]
        assert r.status_code == 413, r.text
        assert r.json() == {"errors": [{"msg": "file must be at most 50000 bytes"}]}


async def test_bad_bytes_and_bombs_are_refused(api: Api) -> None:
    key = await api.account()
    pdf = await _upload(api, key, b"%PDF-1.7 not an image at all")
    assert pdf.status_code == 400
    assert pdf.json()["errors"][0]["msg"].startswith("file is not a supported image")
    truncated = await _upload(api, key, PNG[: len(PNG) // 2])
    assert truncated.status_code == 400
    assert truncated.json()["errors"][0]["msg"].startswith("file ")
    bomb = await _upload(api, key, png_bomb())
    assert bomb.status_code == 400
    assert "too large" in bomb.json()["errors"][0]["msg"]
    text = await api.client.post(
        "/api/v1/uploads",
        content=b"hello",
        headers={"Authorization": key, "Content-Type": "text/plain"},
    )
    assert text.status_code == 415
    missing = await api.client.post(
        "/api/v1/uploads",
        files={"other": ("a.png", PNG, "image/png")},
        headers={"Authorization": key},
    )
    assert missing.status_code == 400
    assert missing.json() == {
        "errors": [{"msg": "file is required (a multipart file part named file)"}]
    }
    async with api.sessions() as session:
        assert (await session.scalars(select(Upload))).first() is None


@pytest.mark.parametrize("settings_overrides", [{"max_live_uploads": 2}])
async def test_live_uploads_are_capped_per_account(api: Api) -> None:
    key = await api.account("a@example.com")
    other = await api.account("b@example.com")
    assert (await _upload(api, key)).status_code == 201
    assert (await _upload(api, key)).status_code == 201
    full = await _upload(api, key)
    assert full.status_code == 429
    assert "at most 2" in full.json()["errors"][0]["msg"]
    assert full.headers["retry-after"]
    assert (await _upload(api, other)).status_code == 201  # per account
    api.clock.advance(timedelta(hours=2))
    assert (await _upload(api, key)).status_code == 201  # expired ones no longer count


async def test_data_uri_and_urls_still_work(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    assert (await api.imagine(key, prompt="blur", image_url=url)).status_code == 200
