"""`Imagine` (the blocking SDK) end to end against the real app on loopback.

The tests are async only to share the `api` fixture; every SDK call runs in a thread, as a
blocking program would make it."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from imagine.client import (
    AuthenticationError,
    BadRequestError,
    EditResult,
    Imagine,
    InsufficientCreditsError,
    NotFoundError,
    Progress,
    UnprocessableError,
)
from imagine.clock import SystemClock
from tests.conftest import Api
from tests.support import ImageHost, image_bytes

PROMPT = "make it brighter"


def _decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


async def test_edit_a_local_file_and_save_it(api: Api, tmp_path: Path) -> None:
    key = await api.account(credits=100)
    photo = tmp_path / "car.jpg"
    photo.write_bytes(image_bytes((800, 600)))
    out = tmp_path / "out" / "car-bright.png"
    with Imagine(api.url, key) as client:
        result = await asyncio.to_thread(client.edit, photo, PROMPT)
        saved = await asyncio.to_thread(result.save, out)
        account = await asyncio.to_thread(client.account)
    assert isinstance(result, EditResult)
    assert result.status == "finished"
    assert result.image_url.startswith(f"{api.url}/files/")
    assert result.credits_used == 8
    assert result.engine == "offline"
    assert result.idempotency_key
    assert saved == out
    img = _decoded(out.read_bytes())
    assert (img.format, img.size) == ("PNG", (1024, 1024))
    assert [p.name for p in out.parent.iterdir()] == ["car-bright.png"]  # no partial file
    assert account.credits == 92
    assert account.total_images == 1


async def test_edit_bytes_to_jpeg_in_another_ratio(api: Api) -> None:
    key = await api.account(credits=100)
    with Imagine(api.url, key) as client:
        result = await asyncio.to_thread(
            client.edit,
            image_bytes((300, 900), "PNG"),
            PROMPT,
            model="flux-kontext-pro",
            aspect_ratio="16:9",
            output_format="jpeg",
            seed=7,
        )
        data = await asyncio.to_thread(result.bytes)
    assert result.credits_used == 4
    img = _decoded(data)
    assert (img.format, img.size) == ("JPEG", (1360, 768))


async def test_edit_a_url_and_save_into_a_directory(
    api: Api, image_host: ImageHost, tmp_path: Path
) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/street.jpg", image_bytes((640, 480)), content_type="image/jpeg")
    with Imagine(api.url, key) as client:
        result = await asyncio.to_thread(client.edit, url, PROMPT, aspect_ratio="4:3")
        saved = await asyncio.to_thread(result.save, tmp_path)
    assert image_host.hits == ["/street.jpg"]  # the URL went to the server as is
    assert saved.parent == tmp_path
    assert saved.name == Path(result.image_url).name
    assert _decoded(saved.read_bytes()).size == (1168, 880)


async def test_progress_wait_false_then_wait_and_fetches(api: Api) -> None:
    key = await api.account(credits=100)
    steps: list[Progress] = []
    with Imagine(api.url, key) as client:
        result = await asyncio.to_thread(
            client.edit, image_bytes(), PROMPT, on_progress=steps.append
        )
        task = await asyncio.to_thread(client.edit, image_bytes(), PROMPT, wait=False)
        waited = await asyncio.to_thread(client.wait, task.task_id, 60)
        fetched = await asyncio.to_thread(client.fetch, result.task_id)
        many = await asyncio.to_thread(
            client.fetch_many, [result.task_id, task.task_id, "00000000-0000-0000-0000-0"]
        )
        waited_bytes = await asyncio.to_thread(waited.bytes)
    stages = [s.stage for s in steps]
    # bytes are uploaded, the edit is accepted (202) and polled until it finishes
    assert stages[:3] == ["upload", "submit", "pending"], stages
    assert stages[-1] == "finished" and steps[-1].percentage == 100
    assert steps[-1].task_id == result.task_id
    assert task.status in ("staged", "pending", "starting", "processing", "finished")
    assert waited.task_id == task.task_id and waited.status == "finished"
    assert _decoded(waited_bytes).size == (1024, 1024)
    assert fetched.status == "finished" and fetched.percentage == 100
    assert fetched.image_url == result.image_url
    assert fetched.model == "flux-kontext-max"
    assert sorted(t.task_id for t in many) == sorted([result.task_id, task.task_id])


async def test_models_and_account(api: Api) -> None:
    key = await api.account(email="models@example.com", credits=3, plan="starter")
    with Imagine(api.url, key) as client:
        models = await asyncio.to_thread(client.models)
        account = await asyncio.to_thread(client.account)
    prices = {m.id: m.credits for m in models}
    assert prices["flux-kontext-max"] == 8 and prices["flux-kontext-pro"] == 4
    assert (account.email, account.credits, account.plan) == ("models@example.com", 3, "starter")


async def test_wrong_key_raises_authentication_error(api: Api) -> None:
    await api.account()
    with Imagine(api.url, "japi_live_" + "x" * 32) as client:
        with pytest.raises(AuthenticationError) as raised:
            await asyncio.to_thread(client.account)
        with pytest.raises(AuthenticationError):
            await asyncio.to_thread(client.edit, image_bytes(), PROMPT)
    assert raised.value.status == 401
    assert raised.value.body == {}


async def test_empty_balance_raises_insufficient_credits(api: Api) -> None:
    key = await api.account(credits=0)
    with Imagine(api.url, key) as client, pytest.raises(InsufficientCreditsError) as raised:
        await asyncio.to_thread(client.edit, image_bytes(), PROMPT)
    assert raised.value.status == 402
    assert raised.value.messages == ["Insufficient credits"]
    assert str(raised.value) == "402 Insufficient credits"


async def test_validation_and_unknown_task_errors(api: Api) -> None:
    key = await api.account(credits=100)
    with Imagine(api.url, key) as client:
        with pytest.raises(BadRequestError) as bad:
            await asyncio.to_thread(
                client.edit, "https://images.example/a.jpg", "  ", aspect_ratio="5:1"
            )
        with pytest.raises(NotFoundError):
            await asyncio.to_thread(client.fetch, "00000000-0000-0000-0000-000000000000")
        with pytest.raises(FileNotFoundError):
            await asyncio.to_thread(client.edit, "/no/such/photo.jpg", PROMPT)
    assert bad.value.status == 400
    assert any("prompt" in m for m in bad.value.messages)
    assert any("aspect_ratio" in m for m in bad.value.messages)


async def test_upload_then_edit_its_url(api: Api, tmp_path: Path) -> None:
    key = await api.account(credits=100)
    photo = tmp_path / "p.png"
    photo.write_bytes(image_bytes((320, 240), "PNG"))
    with Imagine(api.url, key) as client:
        upload = await asyncio.to_thread(client.upload, photo)
        result = await asyncio.to_thread(client.edit, upload.image_url, PROMPT, aspect_ratio="3:2")
        data = await asyncio.to_thread(result.bytes)
    assert (upload.width, upload.height, upload.content_type) == (320, 240, "image/png")
    assert upload.bytes == photo.stat().st_size
    assert upload.upload_id and upload.expires_at
    assert _decoded(data).size == (1248, 832)


async def test_an_expired_output_is_not_saved(api: Api, tmp_path: Path) -> None:
    key = await api.account(credits=100)
    with Imagine(api.url, key) as client:
        result = await asyncio.to_thread(client.edit, image_bytes(), PROMPT)
        api.clock.advance(timedelta(days=15))
        with pytest.raises(NotFoundError) as raised:
            await asyncio.to_thread(result.save, tmp_path / "out" / "late.png")
    assert raised.value.status == 410
    assert not (tmp_path / "out").exists()


# Uploads are reused while the server's clock says they live: a real clock here.
@pytest.mark.parametrize("clock", [SystemClock()])
async def test_the_same_idempotency_key_is_charged_once(api: Api, tmp_path: Path) -> None:
    key = await api.account(credits=100)
    photo = tmp_path / "car.jpg"
    photo.write_bytes(image_bytes((800, 600)))
    with Imagine(api.url, key) as client:
        first = await asyncio.to_thread(client.edit, photo, PROMPT, idempotency_key="order-1")
        # the caller retries (say after a timeout): the same photo, the same key
        again = await asyncio.to_thread(client.edit, photo, PROMPT, idempotency_key="order-1")
        with pytest.raises(UnprocessableError) as reused:
            await asyncio.to_thread(client.edit, photo, "add rain", idempotency_key="order-1")
        account = await asyncio.to_thread(client.account)
    assert not first.replayed
    assert again.replayed
    assert (again.task_id, again.image_url) == (first.task_id, first.image_url)
    assert again.idempotency_key == "order-1"
    assert reused.value.status == 422
    assert account.credits == 92 and account.total_images == 1


@pytest.mark.parametrize("clock", [SystemClock()])
async def test_async_mode_with_an_idempotency_key_replays_the_accepted_task(api: Api) -> None:
    key = await api.account(credits=100)
    with Imagine(api.url, key) as client:
        first = await asyncio.to_thread(
            client.edit, image_bytes(), PROMPT, wait=False, idempotency_key="async-1"
        )
        again = await asyncio.to_thread(
            client.edit, image_bytes(), PROMPT, wait=False, idempotency_key="async-1"
        )
        done = await asyncio.to_thread(client.wait, first.task_id, 60)
        account = await asyncio.to_thread(client.account)
    assert first.status == "pending"
    assert again.task_id == first.task_id
    assert again.raw == {"task_id": first.task_id, "status": "pending", "model": None}
    assert done.status == "finished"
    assert account.credits == 92
