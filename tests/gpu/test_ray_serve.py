"""`imagine gpu serve` on Ray Serve (num_gpus=0, one CPU, loopback, usage stats off, Ray's
temp dir under the test's) behind a gateway whose model routes to `remote`."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from imagine import admin
from imagine.clock import SystemClock
from imagine.services import build_services
from imagine.settings import Settings
from tests.gpu.worker_process import TOKEN, gpu_worker, stop
from tests.support import ImageHost, bound_socket, image_bytes, live_server

pytest.importorskip("ray.serve")


@pytest.fixture
def ray_worker(
    tiny_kontext: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    # A short path: Ray's socket paths live below it (Unix sockets are capped near 107 bytes).
    temp = tmp_path_factory.mktemp("ray")
    extra = {
        "IMAGINE_GPU_NUM_GPUS": "0",
        "IMAGINE_RAY_NUM_CPUS": "1",
        "IMAGINE_RAY_TEMP_DIR": str(temp),
        "IMAGINE_GPU_MAX_ONGOING_REQUESTS": "2",
    }
    with gpu_worker(tiny_kontext, temp / "worker.log", ray=True, extra=extra) as running:
        yield running


async def test_gateway_to_ray_serve_then_worker_stopped(
    ray_worker: tuple[str, subprocess.Popen[bytes]], tmp_path: Path, image_host: ImageHost
) -> None:
    url, process = ray_worker
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        fetch_allow=["127.0.0.1/32"],
        gpu_worker_url=url,
        gpu_worker_token=TOKEN,
        gpu_worker_timeout=120.0,
        log_level="WARNING",
    )
    services = build_services(settings)
    assert services.routes["flux-kontext-dev"].engine_names == ["remote"]
    image = image_host.add("/in.jpg", image_bytes((700, 500)))
    with live_server(services, sock) as base:
        key = await admin.create_account(
            services.sessions, SystemClock(), email="ray@example.com", credits=10, plan="basic"
        )
        headers = {"Authorization": key}
        body = {"prompt": "make the sky blue", "image_url": image, "model": "flux-kontext-dev"}
        async with httpx.AsyncClient(base_url=base, timeout=180) as client:
            r = await client.post("/api/v1/imagine", json=body, headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["engine"] == "remote"
            png = (await client.get(r.json()["image_url"].removeprefix(base))).content
            assert Image.open(io.BytesIO(png)).size == (1024, 1024)

            stop(process)
            r = await client.post("/api/v1/imagine", json=body, headers=headers)
            assert r.status_code in (502, 503), r.text
            assert "task_id" in r.json()
            account = (await client.get("/api/v1/account", headers=headers)).json()
            assert account["credits"] == 10 - 2
    await services.close()
