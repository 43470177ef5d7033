"""Responses say what served the edit: `engine` and `warnings` on /imagine, /fetch and in
webhooks; the offline engine always says it is not FLUX; `aspect_ratio: "auto"` keeps the
input's shape; a 429 says when to retry."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagine.engines.offline.engine import OFFLINE_NOTICE
from imagine.services import Services
from tests.conftest import Api
from tests.hostile_images import with_orientation
from tests.support import ImageHost, image_bytes


async def test_offline_edits_name_their_engine_and_say_they_are_not_flux(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account()
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="make it black and white", image_url=url)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["engine"] == "offline"
    assert body["warnings"][0] == OFFLINE_NOTICE
    task = await api.client.post(
        "/api/v1/fetch", json={"task_id": body["task_id"]}, headers={"Authorization": key}
    )
    assert task.json()["engine"] == "offline"
    assert task.json()["warnings"] == body["warnings"]


@pytest.mark.parametrize(
    ("size", "orientation", "expected"),
    [
        ((480, 640), None, (880, 1168)),  # 3:4 portrait stays portrait
        ((1920, 1080), None, (1360, 768)),  # 16:9
        ((1000, 1000), None, (1024, 1024)),
        (None, 6, (768, 1360)),  # 64×32 stored, EXIF-rotated: 32×64 shown → 9:16
    ],
)
async def test_auto_aspect_ratio_follows_the_input(
    api: Api,
    image_host: ImageHost,
    size: tuple[int, int] | None,
    orientation: int | None,
    expected: tuple[int, int],
) -> None:
    key = await api.account()
    data = image_bytes(size) if size else with_orientation(orientation or 1)
    url = image_host.add("/in.jpg", data)
    r = await api.imagine(key, prompt="make it brighter", image_url=url, aspect_ratio="auto")
    assert r.status_code == 200, r.text
    out = await api.client.get(r.json()["image_url"])
    assert Image.open(io.BytesIO(out.content)).size == expected


async def test_auto_is_the_only_extra_ratio(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    r = await api.imagine(
        key, prompt="p", image_url=image_host.add("/x.jpg", image_bytes()), aspect_ratio="5:4"
    )
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"msg": "aspect_ratio must be one of: 1:1 16:9 9:16 4:3 3:4 3:2 2:3 auto"}
    ]


class Full:
    """An in-flight limiter whose account is always at its plan's limit."""

    async def acquire(self, account_id: str, limit: int) -> str | None:
        return None

    async def release(self, account_id: str, token: str) -> None:
        return None


def _full(services: Services) -> None:
    services.limiter = Full()


@pytest.mark.parametrize("prepare_services", [_full])
async def test_a_full_plan_answers_429_with_retry_after(api: Api, image_host: ImageHost) -> None:
    key = await api.account()
    r = await api.imagine(key, prompt="blur", image_url=image_host.add("/x.jpg", image_bytes()))
    assert r.status_code == 429
    assert r.json() == {"errors": [{"msg": "Rate limit exceeded"}]}
    assert r.headers["retry-after"] == "1"
