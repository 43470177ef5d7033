"""End-to-end /api/v1/imagine latency and throughput on loopback (offline engine, SQLite).

Starts the real app and a local image host in this process, sends a bounded number of
requests, prints p50/p95/max latency and requests per second, and writes
bench/results/imagine_http.json. Run: .venv/bin/python bench/imagine_http.py [N] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import uvicorn
from PIL import Image

from imagine import admin
from imagine.app import create_app
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.logs import configure_logging
from imagine.services import build_services
from imagine.settings import Settings


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def _serve_dir(directory: Path) -> ThreadingHTTPServer:
    handler = partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


async def _run(n: int, concurrency: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="imagine-bench-"))
    pics = tmp / "pics"
    pics.mkdir()
    Image.radial_gradient("L").resize((1600, 1200)).convert("RGB").save(pics / "in.jpg")
    host = _serve_dir(pics)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = Settings(
        data_dir=tmp / "data",
        fetch_allow=["127.0.0.1/32"],
        log_level="WARNING",
        public_url=f"http://127.0.0.1:{port}",
        bootstrap_credits=0,
    )
    engine = create_engine(settings.resolved_database_url())
    await upgrade(engine)
    services = build_services(settings)
    key = await admin.create_account(
        session_factory(engine),
        services.clock,
        email="bench@example.com",
        credits=10**9,
        plan="growth",
    )
    await engine.dispose()
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    image_url = f"http://127.0.0.1:{host.server_address[1]}/in.jpg"
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:

        async def one() -> None:
            async with semaphore:
                start = time.perf_counter()
                r = await client.post(
                    "/api/v1/imagine",
                    json={"prompt": "make it brighter", "image_url": image_url},
                    headers={"Authorization": key},
                )
                latencies.append(time.perf_counter() - start)
                r.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*[one() for _ in range(n)])
        elapsed = time.perf_counter() - began
    server.should_exit = True
    thread.join(timeout=10)
    host.shutdown()
    latencies.sort()
    return {
        "requests": n,
        "concurrency": concurrency,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "max_ms": latencies[-1] * 1000,
        "req_per_s": n / elapsed,
    }


def main() -> None:
    """Run and print."""
    configure_logging("WARNING")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    result = asyncio.run(_run(n, concurrency))
    for k, v in result.items():
        print(f"{k:12} {v:.1f}" if isinstance(v, float) else f"{k:12} {v}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "imagine_http.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
