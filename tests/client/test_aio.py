"""`AsyncImagine` end to end against the real app on loopback."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from imagine.client import (
    AsyncEditResult,
    AsyncImagine,
    AuthenticationError,
    InsufficientCreditsError,
    Progress,
)
from tests.conftest import Api
from tests.support import ImageHost, image_bytes

PROMPT = "make it brighter"


async def test_edit_file_bytes_and_url_concurrently(
    api: Api, image_host: ImageHost, tmp_path: Path
) -> None:
    key = await api.account(credits=100)
    photo = tmp_path / "photo.png"
    photo.write_bytes(image_bytes((500, 500), "PNG"))
    url = image_host.add("/p.jpg", image_bytes(), content_type="image/jpeg")
    steps: list[Progress] = []
    async with AsyncImagine(api.url, key) as client:
        from_file, from_bytes, from_url = await asyncio.gather(
            client.edit(photo, PROMPT, on_progress=steps.append),
            client.edit(image_bytes(), PROMPT, aspect_ratio="3:4", output_format="jpeg"),
            client.edit(url, PROMPT, model="flux-kontext-pro"),
        )
        saved = await from_file.save(tmp_path / "out.png")
        jpeg = await from_bytes.bytes()
        account = await client.account()
        tasks = await client.fetch_many([from_file.task_id, from_url.task_id])
    assert isinstance(from_file, AsyncEditResult)
    assert Image.open(io.BytesIO(saved.read_bytes())).size == (1024, 1024)
    img = Image.open(io.BytesIO(jpeg))
    assert (img.format, img.size) == ("JPEG", (880, 1168))
    assert from_url.credits_used == 4
    assert account.credits == 100 - 8 - 8 - 4
    assert {t.status for t in tasks} == {"finished"}
    assert steps[-1].stage == "finished"
    assert len({from_file.idempotency_key, from_bytes.idempotency_key}) == 2


async def test_async_errors(api: Api) -> None:
    poor = await api.account(email="poor@example.com", credits=1)
    async with AsyncImagine(api.url, "japi_live_nope") as client:
        with pytest.raises(AuthenticationError):
            await client.models()
    async with AsyncImagine(api.url, poor) as client:
        with pytest.raises(InsufficientCreditsError) as raised:
            await client.edit(image_bytes(), PROMPT)
        assert (await client.account()).credits == 1  # nothing was charged
    assert raised.value.messages == ["Insufficient credits"]


async def test_wait_false_then_wait(api: Api) -> None:
    key = await api.account(credits=100)
    async with AsyncImagine(api.url, key) as client:
        task = await client.edit(image_bytes(), PROMPT, wait=False)
        result = await client.wait(task.task_id, timeout=60)
        data = await result.bytes()
    assert result.status == "finished"
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
