"""The gateway's remote engine against a real `imagine gpu serve --no-ray` worker process."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imagine import admin
from imagine.clock import SystemClock
from imagine.services import build_services
from imagine.settings import Settings
from tests.conftest import Api
from tests.gpu.worker_process import TOKEN, gpu_worker, stop
from tests.support import ImageHost, bound_socket, image_bytes, live_server


@pytest.fixture(scope="module")
def worker(
    tiny_kontext: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Any]]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with gpu_worker(tiny_kontext, log) as running:
        yield running


@pytest.fixture
def settings_overrides(worker: tuple[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    values: dict[str, Any] = {
        "gpu_worker_url": worker[0],
        "gpu_worker_token": TOKEN,
        "gpu_worker_timeout": 120.0,
        "engines": {"flux-kontext-pro": ["remote", "offline"]},
    }
    values.update(getattr(request, "param", {}))
    return values


async def _credits(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


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


@pytest.fixture
def short_lived_worker(tiny_kontext: Path, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    with gpu_worker(tiny_kontext, tmp_path / "short.log") as running:
        yield running


async def test_a_stopped_worker_is_503_or_failover_and_refunds(
    short_lived_worker: tuple[str, Any], tmp_path: Path, image_host: ImageHost
) -> None:
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp_path / "data",
        fetch_allow=["127.0.0.1/32"],
        gpu_worker_url=short_lived_worker[0],
        gpu_worker_token=TOKEN,
        engines={"flux-kontext-pro": ["remote", "offline"]},
        log_level="WARNING",
    )
    services = build_services(settings)
    url = image_host.add("/in.jpg", image_bytes())
    with live_server(services, sock) as base:
        key = await admin.create_account(
            services.sessions, SystemClock(), email="gpu@example.com", credits=10, plan="basic"
        )
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            headers = {"Authorization": key}
            body = {"prompt": "add a hat", "image_url": url, "model": "flux-kontext-dev"}
            r = await client.post("/api/v1/imagine", json=body, headers=headers)
            assert r.status_code == 200, r.text
            stop(short_lived_worker[1])
            r = await client.post("/api/v1/imagine", json=body, headers=headers)
            assert r.status_code in (502, 503), r.text
            assert "task_id" in r.json()
            # A chain with another engine fails over to it.
            body.update(model="flux-kontext-pro", prompt="make it sepia")
            r = await client.post("/api/v1/imagine", json=body, headers=headers)
            assert r.status_code == 200, r.text
            assert "served by fallback engine offline" in r.json()["warnings"]
            account = (await client.get("/api/v1/account", headers=headers)).json()
            assert account["credits"] == 10 - 2 - 4
    await services.close()
