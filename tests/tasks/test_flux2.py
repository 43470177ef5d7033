"""FLUX.2 and the catalog through HTTP: several references (image_urls), text-to-image,
the reference limit, the provider's cost kept internal, a catalog file with a new model,
and the offline engine's honest placeholder for text-to-image."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from imagine.catalog import BUNDLED
from imagine.engines.upstream import Sleep
from imagine.tasks import repository as tasks_repo
from tests.conftest import Api, quick_sleep
from tests.engines.fake_bfl import FLUX2_COST, bfl_app
from tests.engines.fakes import SECRET, FakeServer
from tests.support import ImageHost, image_bytes

COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]


@pytest.fixture
def upstream_sleep() -> Sleep:
    """Polls a twentieth as far apart: these tests check what reaches the providers and
    what comes back, never how long a poll waits."""
    return quick_sleep


@pytest.fixture(scope="module")
def fake_bfl() -> Iterator[FakeServer]:
    with FakeServer(bfl_app, cap=6) as running:
        yield running


@pytest.fixture
def catalog_file(tmp_path: Path) -> str:
    """The bundled catalog plus a made-up model served by bfl under its own endpoint."""
    path = tmp_path / "catalog.toml"
    path.write_text(
        BUNDLED.read_text()
        + """
[models.acme-painter]
family = "acme"
kind = ["generate"]
price = 2
max_images = 0
sizing = "width_height"
ratios = ["1:1", "16:9"]
description = "A made-up model"
[models.acme-painter.engines]
bfl = "flux-2-klein-9b"
"""
    )
    return str(path)


@pytest.fixture
def settings_overrides(fake_bfl: FakeServer, catalog_file: str) -> dict[str, Any]:
    fake_bfl.reset()
    return {
        "bfl_api_key": SECRET,
        "bfl_base_url": fake_bfl.base_url,
        "allow_offline_fallback": False,
        "catalog_file": catalog_file,
    }


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (80, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def colour_of(b64: str) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        pixel = img.convert("RGB").getpixel((2, 2))
    assert isinstance(pixel, tuple)
    return (pixel[0], pixel[1], pixel[2])


async def _balance(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def test_references_arrive_in_order_and_cost_stays_internal(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    key = await api.account(credits=100)
    urls = [image_host.add(f"/ref{n}.png", solid(c)) for n, c in enumerate(COLOURS)]
    r = await api.imagine(
        key,
        prompt="put the red object next to the green and blue ones",
        model="flux-2-pro",
        image_url=urls[0],
        image_urls=urls[1:],
        aspect_ratio="16:9",
    )
    assert r.status_code == 200, r.text
    assert r.json()["engine"] == "bfl" and r.json()["credits_used"] == 3
    assert await _balance(api, key) == 97
    assert fake_bfl.state.requests[0] == ("POST", "/v1/flux-2-pro")
    body = fake_bfl.state.bodies[-1]
    names = ["input_image", "input_image_2", "input_image_3"]
    assert [k for k in body if k.startswith("input_image")] == names
    assert [colour_of(body[n]) for n in names] == COLOURS
    assert (body["width"], body["height"]) == (1360, 768)
    task_id = r.json()["task_id"]
    fetched = await api.client.post(
        "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
    )
    assert "cost" not in fetched.text and str(FLUX2_COST) not in r.text + fetched.text
    async with api.sessions() as session:
        task = await tasks_repo.get_task(session, task_id)
    assert task is not None and task.upstream_cost == FLUX2_COST


async def test_text_to_image_sends_no_input(api: Api, fake_bfl: FakeServer) -> None:
    key = await api.account(credits=100)
    r = await api.imagine(key, prompt="a red bicycle", model="flux-2-klein-4b", aspect_ratio="3:2")
    assert r.status_code == 200, r.text
    body = fake_bfl.state.bodies[-1]
    assert not any(k.startswith("input_image") for k in body)
    assert (body["width"], body["height"]) == (1248, 832)


async def test_image_urls_alone_work_as_the_inputs(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    key = await api.account(credits=100)
    urls = [image_host.add(f"/o{n}.png", solid(c)) for n, c in enumerate(COLOURS[:2])]
    r = await api.imagine(key, prompt="blend them", model="flux-2-flex", image_urls=urls)
    assert r.status_code == 200, r.text
    body = fake_bfl.state.bodies[-1]
    assert [colour_of(body["input_image"]), colour_of(body["input_image_2"])] == COLOURS[:2]


async def test_more_references_than_the_model_takes_is_a_400(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/x.png", image_bytes((64, 64), "PNG"))
    r = await api.imagine(
        key, prompt="p", model="flux-2-klein-4b", image_url=url, image_urls=[url] * 4
    )
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {
            "msg": "model flux-2-klein-4b takes at most 4 input images"
            " (image_url and image_urls); got 5"
        }
    ]
    r = await api.imagine(
        key, prompt="p", model="flux-kontext-pro", image_url=url, image_urls=[url]
    )
    assert r.status_code == 400
    assert "takes at most 1 input image " in r.json()["errors"][0]["msg"]
    # Kontext still needs its image.
    r = await api.imagine(key, prompt="p", model="flux-kontext-pro")
    assert r.json()["errors"] == [{"msg": "image_url is required"}]
    assert image_host.hits == [] and fake_bfl.state.bodies == []
    assert await _balance(api, key) == 100


async def test_a_catalog_file_model_is_served_with_no_code_change(
    api: Api, fake_bfl: FakeServer
) -> None:
    key = await api.account(credits=10)
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    acme = next(m for m in models["models"] if m["id"] == "acme-painter")
    assert acme["kind"] == "generate" and acme["credits"] == 2 and acme["available"]
    assert acme["engines"] == ["bfl"] and acme["aspect_ratios"] == ["1:1", "16:9"]
    r = await api.imagine(key, prompt="a lighthouse", model="acme-painter", aspect_ratio="16:9")
    assert r.status_code == 200, r.text
    assert fake_bfl.state.requests[0] == ("POST", "/v1/flux-2-klein-9b")
    assert await _balance(api, key) == 8
    r = await api.imagine(key, prompt="a lighthouse", model="acme-painter", aspect_ratio="3:2")
    assert r.json()["errors"] == [{"msg": "aspect_ratio for acme-painter must be one of: 1:1 16:9"}]


@pytest.mark.parametrize("settings_overrides", [{}], indirect=False)
async def test_offline_text_to_image_is_a_labelled_placeholder(api: Api) -> None:
    key = await api.account(credits=10)
    r = await api.imagine(key, prompt="a castle on a hill", model="flux-2-pro", aspect_ratio="9:16")
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["engine"] == "offline" and out["credits_used"] == 0
    assert any("placeholder" in w for w in out["warnings"])
    img = await api.client.get(out["image_url"])
    with Image.open(io.BytesIO(img.content)) as decoded:
        assert decoded.size == (768, 1360)
    assert await _balance(api, key) == 10
