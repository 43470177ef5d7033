"""Webhook delivery: throughput of `imagine worker` processes, and latency in `imagine serve`.

Throughput: N failed-task events are queued in the outbox at once, W workers drain them
against a loopback receiver answering 204. Latency: `imagine serve` with its in-process
loop; time from the /imagine response to the receiver getting the event.
Prints a table and writes bench/results/webhook_delivery.json.
Run: .venv/bin/python bench/webhook_delivery.py   (IMAGINE_BENCH_DATABASE_URL=postgresql+asyncpg://…
to add PostgreSQL; it must point at a scratch database)
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from PIL import Image
from sqlalchemy import func, select, text

from imagine import admin
from imagine.clock import SystemClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.db.schema import Base, WebhookDelivery
from imagine.tasks import repository as tasks_repo
from imagine.tasks.repository import NewTask
from imagine.tasks.settle import enqueue_webhook

ROOT = Path(__file__).resolve().parents[1]


class Receiver(ThreadingHTTPServer):
    """Answers 204 and notes when each webhook-id arrived."""

    request_queue_size = 512
    daemon_threads = True

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                server.arrivals.setdefault(self.headers["webhook-id"], time.monotonic())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Hook URL."""
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def _env(url: str, data_dir: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env.update(
        IMAGINE_DATABASE_URL=url,
        IMAGINE_DATA_DIR=data_dir,
        IMAGINE_FETCH_ALLOW="127.0.0.1/32",
        IMAGINE_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT / "src"),
    )
    return env


async def _reset(url: str) -> None:
    engine = create_engine(url)
    await upgrade(engine)
    async with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(text(f"DELETE FROM {table.name}"))
    await engine.dispose()


async def _queue(url: str, hook: str, count: int) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    clock = SystemClock()
    await admin.create_account(sessions, clock, email="b@example.com", credits=0, plan="basic")
    account_id = (await admin.show_account(sessions, email="b@example.com")).id
    now = clock.now()
    async with sessions.begin() as session:
        for n in range(count):
            new = NewTask(account_id, "flux-kontext-pro", f"{n}", "1:1", "png", None, hook, None, 0)
            task = await tasks_repo.insert_task(session, new, now=now)
            failed = await tasks_repo.fail_task(
                session, task.id, error="x", error_status=500, now=now
            )
            assert failed is not None
            await enqueue_webhook(session, failed, public_url=None, now=now)
    await engine.dispose()


async def _pending(url: str) -> int:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        count = (
            await session.execute(
                select(func.count(WebhookDelivery.id)).where(WebhookDelivery.status != "delivered")
            )
        ).scalar_one()
    await engine.dispose()
    return int(count)


def throughput(url: str, workers: int, events: int, data_dir: str) -> dict[str, Any]:
    """Drain `events` queued deliveries with `workers` processes; deliveries per second."""
    asyncio.run(_reset(url))
    receiver = Receiver()
    env = _env(url, data_dir) | {"IMAGINE_WEBHOOK_POLL_INTERVAL": "0.2"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "imagine", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    time.sleep(4)  # let them start and migrate
    asyncio.run(_queue(url, receiver.url, events))  # one transaction: all due at its commit
    start = time.monotonic()
    while len(receiver.arrivals) < events:
        time.sleep(0.01)
    elapsed = time.monotonic() - start
    while asyncio.run(_pending(url)) > 0:  # every attempt recorded too
        time.sleep(0.2)
    recorded = time.monotonic() - start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)
    receiver.shutdown()
    return {
        "backend": url.split("+")[0],
        "workers": workers,
        "events": events,
        "seconds_to_receive_all": round(elapsed, 2),
        "per_second": round(events / elapsed, 1),
        "seconds_to_record_all": round(recorded, 2),
        "received": len(receiver.arrivals),
    }


def latency(url: str, calls: int, data_dir: str) -> dict[str, Any]:
    """Task end (the /imagine answer) → receiver, through `imagine serve`'s in-process loop."""
    asyncio.run(_reset(url))
    receiver = Receiver()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    log = Path(data_dir) / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "imagine", "serve", "--port", str(port)],
            env=_env(url, data_dir) | {"IMAGINE_LOG_LEVEL": "INFO"},
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    key = re.findall(r"japi_live_[A-Za-z0-9_-]{32}", log.read_text())[0]
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 40)).save(buf, "JPEG")
    image = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    samples = []
    for _ in range(calls):
        r = httpx.post(
            base + "/api/v1/imagine",
            headers={"Authorization": key},
            timeout=60,
            json={"prompt": "make it sepia", "image_url": image, "webhook_url": receiver.url},
        )
        answered = time.monotonic()
        wanted = len(receiver.arrivals) + 1
        while len(receiver.arrivals) < wanted:
            time.sleep(0.005)
        samples.append((max(receiver.arrivals.values()) - answered) * 1000)
        assert r.status_code == 200
    proc.terminate()
    proc.wait(timeout=30)
    receiver.shutdown()
    samples.sort()
    return {
        "backend": url.split("+")[0],
        "calls": calls,
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 1),
        "max_ms": round(samples[-1], 1),
    }


def main() -> None:
    """Measure and print."""
    tmp = tempfile.mkdtemp(prefix="imagine-bench-")
    urls = [f"sqlite+aiosqlite:///{tmp}/bench.db"]
    if os.environ.get("IMAGINE_BENCH_DATABASE_URL"):
        urls.append(os.environ["IMAGINE_BENCH_DATABASE_URL"])
    results: dict[str, list[dict[str, Any]]] = {"throughput": [], "latency": []}
    for url in urls:
        for workers in (1, 2):
            results["throughput"].append(throughput(url, workers, 1000, tmp))
        results["latency"].append(latency(url, 20, tmp))
    for name, rows in results.items():
        print(f"\n{name}")
        keys = list(rows[0])
        print("| " + " | ".join(keys) + " |")
        print("|" + "---|" * len(keys))
        for row in rows:
            print("| " + " | ".join(str(row[k]) for k in keys) + " |")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "webhook_delivery.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
