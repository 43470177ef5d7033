"""Admitted-task outcomes through HTTP with the real bfl engine against a fake provider:
finished, 422 moderation, 502 upstream error, 503 provider out of credits, 504 deadline,
and 500 for a crashing engine — each failure with its task_id and no credits spent."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from imagine.clock import SystemClock
from imagine.engines.base import EditOptions, EditResult
from imagine.engines.upstream import Sleep
from imagine.services import Services
from tests.conftest import Api, quick_sleep
from tests.engines.fake_bfl import bfl_app
from tests.engines.fakes import SECRET, Answer, FakeServer
from tests.support import ImageHost, image_bytes


@pytest.fixture
def upstream_sleep() -> Sleep:
    """Polls a twentieth as far apart: these tests check outcomes (the deadline one on the
    system clock, whatever the polls), never how long a poll waits."""
    return quick_sleep


@pytest.fixture(scope="module")
def fake_bfl() -> Iterator[FakeServer]:
    with FakeServer(bfl_app, cap=6) as running:
        yield running


@pytest.fixture
def deadline() -> float:
    return 20.0


@pytest.fixture
def settings_overrides(fake_bfl: FakeServer, deadline: float) -> dict[str, Any]:
    fake_bfl.reset()
    fake_bfl.state.pending_polls = 1
    return {
        "bfl_api_key": SECRET,
        "bfl_base_url": fake_bfl.base_url,
        "allow_offline_fallback": False,
        "upstream_deadline": deadline,
    }


async def _balance(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def _failed(api: Api, key: str, r: Any, status: int, msg: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["errors"] == [{"msg": msg}]
    assert SECRET not in r.text and "127.0.0.1" not in r.text
    task = await api.client.post(
        "/api/v1/fetch", json={"task_id": body["task_id"]}, headers={"Authorization": key}
    )
    assert task.json()["status"] == "failed"
    assert task.json()["error"] == msg
    assert await _balance(api, key) == 100


async def test_real_engine_finishes(api: Api, image_host: ImageHost, fake_bfl: FakeServer) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="make the car matte black", image_url=url, seed=7)
    assert r.status_code == 200, r.text
    assert r.json()["warnings"] == []
    assert r.json()["engine"] == "bfl"
    assert await _balance(api, key) == 92
    img = await api.client.get(r.json()["image_url"])
    assert img.status_code == 200
    assert img.headers["content-type"] == "image/png"
    body = fake_bfl.state.bodies[-1]
    assert body["prompt"] == "make the car matte black"
    assert body["seed"] == 7
    assert body["safety_tolerance"] == 2
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    engines = {m["id"]: m["engines"] for m in models["models"]}
    assert engines["flux-kontext-max"] == engines["flux-kontext-pro"] == ["bfl"]
    # flux-kontext-dev is not a hosted model: served by diffusers/remote only
    assert engines.pop("flux-kontext-dev") == []
    assert all(served == ["bfl"] for served in engines.values())


@pytest.mark.parametrize(
    ("outcome", "status", "msg"),
    [
        ("content_moderated", 422, "Content policy violation"),
        ("request_moderated", 422, "Content policy violation"),
    ],
)
async def test_moderation_is_422(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer, outcome: str, status: int, msg: str
) -> None:
    fake_bfl.state.outcome = outcome
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    await _failed(api, key, await api.imagine(key, prompt="x y z", image_url=url), status, msg)


async def test_upstream_error_is_502(api: Api, image_host: ImageHost, fake_bfl: FakeServer) -> None:
    fake_bfl.state.outcome = "error"
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur it", image_url=url)
    assert r.status_code == 502
    await _failed(api, key, r, 502, r.json()["errors"][0]["msg"])


async def test_provider_out_of_credits_is_503(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    fake_bfl.state.submit_plan = [Answer(402, {"detail": "Insufficient credits " + SECRET})]
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur it", image_url=url)
    assert r.status_code == 503
    await _failed(api, key, r, 503, r.json()["errors"][0]["msg"])


@pytest.mark.parametrize(("deadline", "clock"), [(1.5, SystemClock())])
async def test_deadline_is_504(api: Api, image_host: ImageHost, fake_bfl: FakeServer) -> None:
    fake_bfl.state.pending_polls = 10_000
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur it", image_url=url)
    await _failed(api, key, r, 504, r.json()["errors"][0]["msg"])


class CrashingEngine:
    """An engine fake with a bug in it."""

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        raise RuntimeError("boom")


def _crashing(services: Services) -> None:
    services.routes["flux-kontext-max"].engine = CrashingEngine()


@pytest.mark.parametrize("prepare_services", [_crashing])
async def test_engine_bug_is_500_with_task_id(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="blur", image_url=url)
    assert r.status_code == 500
    assert set(r.json()) == {"task_id"}
    task = await api.client.post(
        "/api/v1/fetch", json={"task_id": r.json()["task_id"]}, headers={"Authorization": key}
    )
    assert task.json()["status"] == "failed"
    assert await _balance(api, key) == 100


async def test_input_and_result_bytes_pass_through_unchanged(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    """The provider gets the caller's JPEG as it is; the stored output is the provider's PNG
    as it came, at its native size (no decode, crop or re-encode on either side)."""
    key = await api.account(credits=100)
    original = image_bytes((640, 480))
    url = image_host.add("/in.jpg", original)
    r = await api.imagine(key, prompt="make it dusk", image_url=url)
    assert r.status_code == 200, r.text
    assert base64.b64decode(fake_bfl.state.bodies[-1]["input_image"]) == original
    assert fake_bfl.state.bodies[-1]["output_format"] == "png"
    stored = (await api.client.get(r.json()["image_url"])).content
    expected = io.BytesIO()
    Image.new("RGB", fake_bfl.state.result_size, (200, 30, 30)).save(expected, "PNG")
    assert stored == expected.getvalue()


async def test_auto_ratio_asks_the_provider_for_the_inputs_shape(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    key = await api.account(credits=100)
    url = image_host.add("/portrait.jpg", image_bytes((480, 640)))
    r = await api.imagine(key, prompt="make it dusk", image_url=url, aspect_ratio="auto")
    assert r.status_code == 200, r.text
    assert fake_bfl.state.bodies[-1]["aspect_ratio"] == "3:4"
