"""`imagine gpu serve` on Ray Serve (num_gpus=0, one CPU, usage stats off, Ray's temp dir
under the test's) behind a gateway whose model routes to `remote`. One worker (conftest's
pool, started alongside the other workers) for the module: Ray takes most of its time."""

from __future__ import annotations

import io
import ipaddress
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil  # comes with the gpu extra (accelerate depends on it)
import pytest
from PIL import Image

from imagine import admin
from imagine.clock import SystemClock
from imagine.services import build_services
from imagine.settings import Settings
from tests.gpu.worker_process import TOKEN, Worker, stop, wait_healthy
from tests.support import ImageHost, bound_socket, image_bytes, live_server

pytest.importorskip("ray.serve")


@dataclass
class RayWorker:
    url: str
    process: subprocess.Popen[bytes]
    temp: Path


@pytest.fixture(scope="module")
def ray_worker(gpu_worker_pool: dict[str, Worker]) -> RayWorker:
    worker = gpu_worker_pool["ray"]
    wait_healthy(worker)
    return RayWorker(worker.url, worker.process, Path(worker.env["IMAGINE_RAY_TEMP_DIR"]))


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _listening(pid: int) -> list[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket in the process tree."""
    found = []
    for proc in _tree(pid):
        try:
            name = proc.name()
            sockets = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found += [(name, s.laddr.ip, s.laddr.port) for s in sockets if s.status == "LISTEN"]
    return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1, a dual-stack socket bound to 127.0.0.1
    return ip.is_loopback


def test_ray_binds_loopback_only_keeps_its_files_under_the_temp_dir_and_sends_no_stats(
    ray_worker: RayWorker,
) -> None:
    names = {proc.name() for proc in _tree(ray_worker.process.pid)}
    assert {"gcs_server", "raylet"} <= names, names
    # The agents start alongside the replica: wait until no new socket shows up.
    listening = _listening(ray_worker.process.pid)
    for _ in range(20):
        time.sleep(0.5)
        again = _listening(ray_worker.process.pid)
        if set(again) == set(listening):
            break
        listening = again
    owners = {name for name, _, _ in listening}
    assert {"gcs_server", "raylet"} <= owners, listening
    # Serve's replica gRPC server, whose `[::]:0` serve.py narrows.
    assert any(name.startswith("ray::ServeReplica") for name in owners), listening
    assert len(listening) >= 6, listening  # GCS, raylet, object manager, agents, workers, proxy
    exposed = [entry for entry in listening if not _loopback(entry[1])]
    assert not exposed, f"Ray listens beyond loopback: {exposed}"
    # Ray's session (logs, sockets, spilled objects) lives under the temp dir given.
    assert (ray_worker.temp / "session_latest" / "logs").is_dir()
    gcs = next(p for p in _tree(ray_worker.process.pid) if p.name() == "gcs_server")
    assert gcs.environ().get("RAY_USAGE_STATS_ENABLED") == "0"


async def test_gateway_to_ray_serve_then_worker_stopped(
    ray_worker: RayWorker, tmp_path: Path, image_host: ImageHost
) -> None:
    # Stops the module's worker: keep this test last in the file.
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp_path / "data",
        public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        fetch_allow=["127.0.0.1/32"],
        gpu_worker_url=ray_worker.url,
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

            stop(ray_worker.process)
            r = await client.post("/api/v1/imagine", json=body, headers=headers)
            assert r.status_code in (502, 503), r.text
            assert "task_id" in r.json()
            account = (await client.get("/api/v1/account", headers=headers)).json()
            assert account["credits"] == 10 - 2
    await services.close()
