"""The gateway's remote engine against real `imagine gpu serve --no-ray` worker processes
(conftest's pool): a quick one (2 steps) and a slow one (200 steps) for the deadline and a
client leaving. The last test stops the quick one."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select

from imagine.db.schema import Task
from tests.conftest import Api
from tests.gpu.worker_process import SLOW_STEPS, TOKEN, Worker, stop, wait_healthy
from tests.support import ImageHost, image_bytes


@pytest.fixture(scope="module")
def worker(gpu_worker_pool: dict[str, Worker]) -> tuple[str, Any]:
    wait_healthy(gpu_worker_pool["quick"])
    return gpu_worker_pool["quick"].url, gpu_worker_pool["quick"].process


@pytest.fixture(scope="module")
def slow_worker(gpu_worker_pool: dict[str, Worker]) -> tuple[str, Any]:
    wait_healthy(gpu_worker_pool["slow"])
    return gpu_worker_pool["slow"].url, gpu_worker_pool["slow"].process


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The gateway's settings; a param may pick the worker ("worker": "slow_worker")."""
    param = dict(getattr(request, "param", {}))
    worker = request.getfixturevalue(param.pop("worker", "worker"))
    values: dict[str, Any] = {
        "gpu_worker_url": worker[0],
        "gpu_worker_token": TOKEN,
        "gpu_worker_timeout": 120.0,
        "engines": {"flux-kontext-pro": ["remote", "offline"]},
    }
    values.update(param)
    return values


async def _credits(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def _status(api: Api, key: str, task_id: str) -> str:
    r = await api.client.post(
        "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
    )
    return str(r.json()["status"])


async def _health(worker_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        health: dict[str, Any] = (await client.get(worker_url + "/v1/health")).json()
        return health


async def _denoising(worker_url: str, past: int) -> int:
    """Wait until the worker holds its GPU and has run steps beyond `past`; its count."""
    for _ in range(600):
        health = await _health(worker_url)
        if health["busy"] and health["steps_run"] > past:
            return int(health["steps_run"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"the worker never started denoising: {health}")


async def _stopped(worker_url: str) -> int:
    """Wait until the worker's GPU is free, then check its loop stays still; its count."""
    for _ in range(300):
        health = await _health(worker_url)
        if not health["busy"]:
            break
        await asyncio.sleep(0.1)
    assert not health["busy"], "the worker still holds its GPU"
    await asyncio.sleep(1.0)
    again = await _health(worker_url)
    assert again["steps_run"] == health["steps_run"], "the denoising loop is still running"
    return int(health["steps_run"])


async def _until_refunded(api: Api, key: str, credits: int) -> None:
    for _ in range(100):
        if await _credits(api, key) == credits:
            return
        await asyncio.sleep(0.1)
    assert await _credits(api, key) == credits


async def test_an_edit_through_the_worker(api: Api, image_host: ImageHost) -> None:
    key = await api.account(credits=10)
    url = image_host.add("/in.png", image_bytes((500, 300), "PNG"))
    r = await api.imagine(
        key, prompt="make the sky blue", image_url=url, model="flux-kontext-dev",
        aspect_ratio="16:9", seed=3,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["engine"] == "remote"
    assert body["credits_used"] == 2
    png = (await api.client.get(body["image_url"].removeprefix(api.url))).content
    assert Image.open(io.BytesIO(png)).size == (1392, 752)
    assert await _credits(api, key) == 8


async def test_the_worker_refuses_callers_without_its_token(worker: tuple[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        body = {"prompt": "x", "image": "aGk="}
        r = await client.post(worker[0] + "/v1/edit", json=body)
        assert r.status_code == 401
        r = await client.post(
            worker[0] + "/v1/edit", json=body, headers={"Authorization": "Bearer nope"}
        )
        assert r.status_code == 401


@pytest.mark.parametrize("settings_overrides", [{"gpu_worker_token": "wrong"}], indirect=True)
async def test_a_gateway_with_the_wrong_token_gets_503_and_a_refund(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes())
    r = await api.imagine(key, prompt="add a hat", image_url=url, model="flux-kontext-dev")
    assert r.status_code == 503, r.text
    assert "task_id" in r.json()
    assert await _credits(api, key) == 10


@pytest.mark.parametrize("settings_overrides", [{"worker": "slow_worker"}], indirect=True)
async def test_a_client_leaving_mid_edit_stops_the_worker_frees_its_gpu_and_refunds(
    api: Api, image_host: ImageHost, slow_worker: tuple[str, Any]
) -> None:
    worker_url = slow_worker[0]
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes((640, 480)))
    body = {"prompt": "turn into painting", "image_url": url, "model": "flux-kontext-dev"}
    before = (await _health(worker_url))["steps_run"]
    for _ in range(2):  # the second edit gets the GPU the first one gave back
        async with httpx.AsyncClient(base_url=api.url, timeout=120) as leaving:
            request = asyncio.create_task(
                leaving.post("/api/v1/imagine", json=body, headers={"Authorization": key})
            )
            before = await _denoising(worker_url, before)
            # The client leaves (no webhook): the gateway closes its stream to the worker.
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
        await _until_refunded(api, key, 10)
        stopped = await _stopped(worker_url)
        assert stopped < before + SLOW_STEPS  # stopped between two steps, long before the end
        before = stopped
    async with api.sessions() as session:
        assert list(await session.scalars(select(Task.status))) == ["failed", "failed"]
    assert await _credits(api, key) == 10


@pytest.mark.parametrize(
    "settings_overrides", [{"worker": "slow_worker", "gpu_worker_timeout": 8.0}], indirect=True
)
async def test_a_remote_edit_past_its_deadline_is_504_refunded_and_stops_the_worker(
    api: Api, image_host: ImageHost, slow_worker: tuple[str, Any]
) -> None:
    worker_url = slow_worker[0]
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes((640, 480)))
    before = (await _health(worker_url))["steps_run"]
    request = asyncio.create_task(
        api.imagine(key, prompt="add a hat", image_url=url, model="flux-kontext-dev")
    )
    denoising = await _denoising(worker_url, before)  # the loop runs when the deadline hits
    r = await request
    assert r.status_code == 504, r.text
    assert r.json()["errors"][0]["msg"] == "The GPU worker did not finish within 8 s"
    assert await _status(api, key, r.json()["task_id"]) == "failed"
    await _until_refunded(api, key, 10)
    stopped = await _stopped(worker_url)
    assert denoising <= stopped < before + SLOW_STEPS


async def test_a_stopped_worker_is_503_or_failover_and_refunds(
    api: Api, image_host: ImageHost, worker: tuple[str, Any]
) -> None:
    # Stops the module's quick worker: keep this test last in the file.
    key = await api.account(credits=10)
    url = image_host.add("/in.jpg", image_bytes())
    body = {"prompt": "add a hat", "image_url": url, "model": "flux-kontext-dev"}
    stop(worker[1])
    r = await api.imagine(key, **body)
    assert r.status_code in (502, 503), r.text
    assert "task_id" in r.json()
    # A chain with another engine fails over to it.
    body.update(model="flux-kontext-pro", prompt="make it sepia")
    r = await api.imagine(key, **body)
    assert r.status_code == 200, r.text
    assert "served by fallback engine offline" in r.json()["warnings"]
    assert await _credits(api, key) == 10 - 4
