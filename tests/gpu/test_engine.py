"""The diffusers engine through HTTP, with a tiny Kontext pipeline loaded from a directory
exactly as production does (IMAGINE_DIFFUSERS_MODEL=<dir>)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from structlog.testing import capture_logs

from imagine.db.schema import Task
from imagine.engines.registry import log_routes
from imagine.services import build_services
from imagine.settings import Settings
from tests.conftest import Api
from tests.support import ImageHost, image_bytes


@pytest.fixture
def settings_overrides(tiny_kontext: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    values: dict[str, Any] = {
        "diffusers_model": str(tiny_kontext),
        "diffusers_steps": 2,
        "diffusers_max_sequence_length": 32,
        "engines": {"flux-kontext-max": ["diffusers"]},
    }
    values.update(getattr(request, "param", {}))
    return values


def _runner(api: Api) -> Any:
    engine = api.services.routes["flux-kontext-dev"].engine
    return engine.runner  # type: ignore[union-attr]


async def _png(api: Api, url: str) -> bytes:
    r = await api.client.get(url.removeprefix(api.url))
    assert r.status_code == 200
    return r.content


async def _credits(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def test_edit_at_kontext_sizes_same_seed_same_bytes(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=20)
    url = image_host.add("/in.jpg", image_bytes((800, 600)))
    r = await api.imagine(
        key, prompt="make the sky blue", image_url=url, model="flux-kontext-dev", seed=7
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "finished"
    assert body["engine"] == "diffusers"
    assert body["credits_used"] == 2
    assert not body.get("warnings")
    first = await _png(api, body["image_url"])
    assert Image.open(io.BytesIO(first)).size == (1024, 1024)

    again = await api.imagine(
        key, prompt="make the sky blue", image_url=url, model="flux-kontext-dev", seed=7
    )
    assert again.status_code == 200, again.text
    assert await _png(api, again.json()["image_url"]) == first

    wide = await api.imagine(
        key, prompt="make the sky blue", image_url=url, model="flux-kontext-dev",
        seed=7, aspect_ratio="16:9",
    )  # fmt: skip
    assert wide.status_code == 200, wide.text
    img = Image.open(io.BytesIO(await _png(api, wide.json()["image_url"])))
    assert img.size == (1392, 752)  # the trained size, not resampled to 1360×768
    assert await _credits(api, key) == 20 - 3 * 2


async def test_a_model_served_by_another_says_so(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=20)
    url = image_host.add("/in.jpg", image_bytes((640, 640)))
    r = await api.imagine(key, prompt="add a hat", image_url=url, seed=1)
    assert r.status_code == 200, r.text
    assert r.json()["credits_used"] == 8
    assert any("FLUX.1 Kontext [dev]" in w for w in r.json()["warnings"])


@pytest.mark.parametrize("settings_overrides", [{"diffusers_steps": 60}], indirect=True)
async def test_fetch_shows_progress_and_a_client_leaving_stops_the_loop(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes((640, 480)))
    body = {"prompt": "turn into painting", "image_url": url, "model": "flux-kontext-dev"}
    runner = _runner(api)

    async with httpx.AsyncClient(base_url=api.url, timeout=120) as leaving:
        request = asyncio.create_task(
            leaving.post("/api/v1/imagine", json=body, headers={"Authorization": key})
        )
        seen: list[tuple[str, str]] = []
        task_id = None
        for _ in range(600):
            await asyncio.sleep(0.1)
            if task_id is None:
                async with api.sessions() as session:
                    task_id = await session.scalar(select(Task.id))
                continue
            r = await api.client.post(
                "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
            )
            got = r.json()
            seen.append((got["status"], got["percentage"]))
            if got["status"] == "processing" and 0 < int(got["percentage"]) < 100:
                break
        assert seen and seen[-1][0] == "processing", seen
        assert 0 < int(seen[-1][1]) < 100
        # The client leaves (no webhook): the edit is cancelled between two steps.
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request

    for _ in range(100):
        if await _credits(api, key) == 10:
            break
        await asyncio.sleep(0.1)
    assert await _credits(api, key) == 10
    stopped_at = runner.steps_run
    await asyncio.sleep(1.5)
    assert runner.steps_run == stopped_at  # the denoising loop is not running any more
    assert stopped_at < 60
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
    )
    assert r.json()["status"] == "failed"


@pytest.mark.parametrize(
    "settings_overrides", [{"diffusers_steps": 200, "diffusers_deadline": 1.0}], indirect=True
)
async def test_the_deadline_stops_the_loop_with_a_504_and_a_refund(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes((640, 480)))
    runner = _runner(api)
    before = runner.steps_run
    r = await api.imagine(key, prompt="add a hat", image_url=url, model="flux-kontext-dev")
    assert r.status_code == 504, r.text
    assert r.json()["errors"][0]["msg"] == "The local model did not finish within 1 s"
    fetched = await api.client.post(
        "/api/v1/fetch", json={"task_id": r.json()["task_id"]}, headers={"Authorization": key}
    )
    assert fetched.json()["status"] == "failed"
    assert await _credits(api, key) == 10
    stopped_at = runner.steps_run
    await asyncio.sleep(1.0)
    assert runner.steps_run == stopped_at  # stopped between two steps
    assert before < stopped_at < before + 200
    engine = api.services.routes["flux-kontext-dev"].engine
    assert engine.gpu.in_flight == 0  # type: ignore[union-attr]


@pytest.fixture
def broken_model(tmp_path: Path) -> Path:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model_index.json").write_text('{"_class_name": "FluxKontextPipeline"}')
    return broken


async def test_a_broken_model_directory_is_a_503_and_a_loud_log(
    tmp_path: Path, broken_model: Path, image_host: ImageHost
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        diffusers_model=str(broken_model),
        fetch_allow=["127.0.0.1/32"],
        log_level="WARNING",
    )
    with capture_logs() as logs:
        services = build_services(settings)
        log_routes(services.routes)
    await services.close()
    route = services.routes["flux-kontext-dev"]
    assert not route.available
    assert str(broken_model) in route.note
    errors = [e for e in logs if e["log_level"] == "error" and e.get("model") == "flux-kontext-dev"]
    assert errors and "could not load" in errors[0]["reason"]


@pytest.mark.parametrize(
    "settings_overrides", [{"diffusers_model": "/nonexistent/kontext"}], indirect=True
)
async def test_a_missing_model_answers_503(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="add a hat", image_url=url, model="flux-kontext-dev")
    assert r.status_code == 503
    assert "flux-kontext-dev" in r.json()["errors"][0]["msg"]
    models = (await api.client.get("/api/v1/models", headers={"Authorization": key})).json()
    dev = next(m for m in models["models"] if m["id"] == "flux-kontext-dev")
    assert dev["available"] is False
    assert await _credits(api, key) == 10
