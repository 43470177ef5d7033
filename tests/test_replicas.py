"""Many replicas, one truth: three `imagine serve` and two `imagine worker` processes on one
PostgreSQL + Redis + S3-compatible store, traffic spread across the replicas, a provider on
loopback that counts what it has in flight, and one replica SIGKILLed mid-run and restarted.

Runs when IMAGINE_TEST_DATABASE_URL and IMAGINE_TEST_REDIS_URL are set (moto provides S3).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagine import admin
from imagine.catalog import default_catalog
from imagine.clock import SystemClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.schema import Account, LedgerEntry, Output, Task, WebhookDelivery
from imagine.storage.object_store import ObjectStoreBackend
from tests.engines.fakes import FakeServer
from tests.support import ImageHost, image_bytes
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_processes import IMAGINE, _free_port, _wait

pytestmark = pytest.mark.slow

MODEL = "flux-kontext-pro"
CAP = 3  # the provider key's in-flight cap, configured on every replica
KEY = f"bfl-replicas-{uuid.uuid4().hex[:8]}"  # a key of its own: its own shared caps
REQUESTS = 48
CLIENTS = 8
TASK_SECONDS = 0.45  # how long the provider takes per task: done by the first poll (0.5 s)


@dataclass
class TimedProvider:
    """A BFL-like provider whose tasks finish after a fixed time, polled or not (as real
    ones do), and that answers 429 past its cap (counting each time it had to)."""

    cap: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    ends: dict[str, float] = field(default_factory=dict)
    prompts: Counter[str] = field(default_factory=Counter)
    peak: int = 0
    over_cap: int = 0

    def in_flight(self, now: float) -> int:
        return sum(1 for end in self.ends.values() if end > now)


def provider_app(server: FakeServer) -> Starlette:
    def timed() -> TimedProvider:
        state = server.state
        assert isinstance(state, TimedProvider)
        return state

    png = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 160, 90)).save(png, "PNG")

    async def submit(request: Request) -> Response:
        if request.headers.get("x-key") != KEY:
            return JSONResponse({"detail": "Not authenticated"}, 401)
        state = timed()
        body = await request.json()
        now = time.monotonic()
        with state.lock:
            if state.in_flight(now) >= state.cap:
                state.over_cap += 1
                return JSONResponse({"detail": "Too many active tasks"}, 429, {"Retry-After": "1"})
            task = uuid.uuid4().hex
            state.ends[task] = now + TASK_SECONDS
            state.prompts[body["prompt"]] += 1
            state.peak = max(state.peak, state.in_flight(now))
        return JSONResponse(
            {"id": task, "polling_url": f"{server.base_url}/v1/get_result?id={task}"}
        )

    async def get_result(request: Request) -> Response:
        task = request.query_params.get("id", "")
        end = timed().ends.get(task)
        if end is None:
            return JSONResponse({"status": "Task not found"})
        if time.monotonic() < end:
            return JSONResponse({"id": task, "status": "Pending"})
        sample = f"{server.base_url}/delivery/{task}.png"
        return JSONResponse({"id": task, "status": "Ready", "result": {"sample": sample}})

    async def delivery(request: Request) -> Response:
        return Response(png.getvalue(), media_type="image/png")

    return Starlette(
        routes=[
            Route("/v1/flux-kontext-pro", submit, methods=["POST"]),
            Route("/v1/get_result", get_result),
            Route("/delivery/{name}", delivery),
        ]
    )


@pytest.fixture
def provider() -> Iterator[tuple[FakeServer, TimedProvider]]:
    with FakeServer(provider_app) as server:
        state = TimedProvider(CAP)
        server.state = state  # type: ignore[assignment]
        yield server, state


@pytest.fixture
def s3() -> Iterator[dict[str, str]]:
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket="outputs")
    try:
        yield {
            "AWS_ENDPOINT": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
        }
    finally:
        server.stop()


class Replica:
    """One `imagine serve` process on a fixed port (restartable on the same port)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log, self.port = env, log, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.launch()
        self.wait_up()

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_up`)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*IMAGINE, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_up(self) -> None:
        """Block until /healthz answers (fails if the process ends first)."""

        def up() -> bool:
            try:
                return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                return False

        _wait(up, f"imagine serve on {self.port}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def test_replicas_share_limits_and_reconcile_after_a_sigkill(
    postgres_url: str | None,
    redis_url: str,
    provider: tuple[FakeServer, TimedProvider],
    s3: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if postgres_url is None:
        pytest.skip("IMAGINE_TEST_DATABASE_URL not set")
    server, state = provider
    store_url = f"s3://outputs/replicas-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env.update(s3)
    env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"),
        IMAGINE_DATA_DIR=str(tmp_path / "data"),
        IMAGINE_DATABASE_URL=postgres_url,
        IMAGINE_REDIS_URL=redis_url,
        IMAGINE_STORE_URL=store_url,
        IMAGINE_FETCH_ALLOW="127.0.0.1/32",
        IMAGINE_BFL_API_KEY=KEY,
        IMAGINE_BFL_BASE_URL=server.base_url,
        IMAGINE_BFL_MAX_IN_FLIGHT=str(CAP),
        IMAGINE_UPSTREAM_QUEUE_TIMEOUT="10",
        IMAGINE_PROVIDER_SLOT_LEASE="6",  # renewed every 2 s, even on a busy CI machine
        IMAGINE_RESERVATION_TIMEOUT="15",  # above the 10 s queue wait plus a task
        IMAGINE_SWEEP_INTERVAL="1",
        IMAGINE_RUN_WORKER_IN_PROCESS="false",
        IMAGINE_WEBHOOK_POLL_INTERVAL="30",  # only LISTEN/NOTIFY makes them fast
        IMAGINE_LOG_LEVEL="WARNING",
    )
    image_host = ImageHost()
    image_host.start()
    receiver = Receiver()
    receiver.__enter__()
    replicas = [Replica(env, tmp_path / f"serve{i}.log") for i in range(3)]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        replicas[0].start()  # migrates the database
        for replica in replicas[1:]:  # the others start side by side, as in a deployment
            replica.launch()
        for i in range(2):
            with (tmp_path / f"worker{i}.log").open("ab") as out:
                workers.append(
                    subprocess.Popen(
                        [*IMAGINE, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
                    )
                )
        for replica in replicas[1:]:
            replica.wait_up()
        start_credits = 10_000
        key, account_id = asyncio.run(_account(postgres_url, start_credits))
        source = image_host.add("/in.jpg", image_bytes((512, 512)))

        answers: Counter[str] = Counter()
        killed = threading.Event()

        def one(n: int) -> None:
            replica = replicas[n % 3]
            try:
                r = httpx.post(
                    f"{replica.url}/api/v1/imagine",
                    headers={"Authorization": key},
                    json={
                        "prompt": f"edit number {n}",
                        "image_url": source,
                        "model": MODEL,
                        "webhook_url": receiver.url,
                    },
                    timeout=60,
                )
                answers[str(r.status_code)] += 1
            except httpx.TransportError:
                answers["connection lost" if killed.is_set() else "transport error"] += 1
            if n == REQUESTS // 3:
                killed.set()
                replicas[0].kill()  # mid-run: it holds admitted edits and provider slots
                replicas[0].start()

        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(one, range(REQUESTS)))
        traffic_s = time.monotonic() - started

        sessions_url = postgres_url

        def settled() -> bool:
            tasks, deliveries = asyncio.run(_tasks_and_deliveries(sessions_url, account_id))
            return all(t.status in ("finished", "failed") for t in tasks) and all(
                d.status == "delivered" for d in deliveries
            )

        # Edits the killed replica held fail after IMAGINE_RESERVATION_TIMEOUT (refunded).
        _wait(settled, "every task ended and every webhook delivered", within=120)
        sweep = subprocess.run(
            [*IMAGINE, "sweep", "--orphan-grace", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        for name, value in s3.items():  # obstore reads AWS_* from the environment
            monkeypatch.setenv(name, value)
        report = asyncio.run(_reconcile(postgres_url, store_url, account_id))
    finally:
        for replica in replicas:
            replica.stop()
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        receiver.__exit__(None, None, None)
        image_host.stop()

    price = default_catalog()[MODEL].price
    finished, failed = report["finished"], report["failed"]
    delivered_ids = {json.loads(r.body)["task_id"] for r in receiver.requests}
    rows = [
        ("answers", dict(answers)),
        ("traffic seconds", round(traffic_s, 1)),
        ("tasks finished / failed", f"{finished} / {failed}"),
        ("provider peak in flight (cap)", f"{state.peak} ({CAP})"),
        ("provider 429s", state.over_cap),
        ("most submissions of one edit", max(state.prompts.values())),
        (
            "balance (start - price x finished)",
            f"{report['balance']} ({start_credits} - "
            f"{price} x {finished} = {start_credits - price * finished})",
        ),
        ("ledger sum of reserve/release", report["ledger_sum"]),
        ("webhooks: tasks / delivered", f"{report['tasks']} / {len(delivered_ids)}"),
        ("store objects / live outputs", f"{report['objects']} / {report['outputs']}"),
        ("sweep", sweep.stdout.strip().splitlines()[-1]),
    ]
    print("\nreconciliation")
    for name, value in rows:
        print(f"  {name:<38} {value}")

    assert answers["200"] >= REQUESTS // 3, answers
    assert state.peak <= CAP and state.over_cap == 0
    assert max(state.prompts.values()) == 1  # no edit reached the provider twice
    assert report["balance"] == start_credits - price * finished
    assert report["ledger_sum"] == -price * finished
    assert report["tasks"] == finished + failed
    assert delivered_ids == report["task_ids"]  # every task's webhook, at least once
    assert report["store_names"] == report["output_names"]


async def _account(database_url: str, credits: int) -> tuple[str, str]:
    engine = create_engine(database_url)
    email = f"replicas-{uuid.uuid4().hex[:6]}@example.com"
    try:
        sessions = session_factory(engine)
        key = await admin.create_account(
            sessions, SystemClock(), email=email, credits=credits, plan="growth"
        )
        return key, (await admin.show_account(sessions, email=email)).id
    finally:
        await engine.dispose()


async def _tasks_and_deliveries(
    database_url: str, account_id: str
) -> tuple[list[Task], list[WebhookDelivery]]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            tasks = list(
                (await session.scalars(select(Task).where(Task.account_id == account_id))).all()
            )
            deliveries = list(
                (
                    await session.scalars(
                        select(WebhookDelivery).where(WebhookDelivery.account_id == account_id)
                    )
                ).all()
            )
            return tasks, deliveries
    finally:
        await engine.dispose()


async def _reconcile(database_url: str, store_url: str, account_id: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            tasks = list(
                (await session.scalars(select(Task).where(Task.account_id == account_id))).all()
            )
            account = await session.get(Account, account_id)
            assert account is not None
            ledger = list(
                (
                    await session.scalars(
                        select(LedgerEntry).where(LedgerEntry.account_id == account_id)
                    )
                ).all()
            )
            ids = [t.id for t in tasks]
            outputs = list(
                (
                    await session.scalars(
                        select(Output).where(Output.deleted_at.is_(None), Output.task_id.in_(ids))
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    store = ObjectStoreBackend(store_url)
    names = {obj.name async for batch in store.listing() for obj in batch}
    finished = [t for t in tasks if t.status == "finished" and t.charge_state == "committed"]
    return {
        "finished": len(finished),
        "failed": sum(1 for t in tasks if t.status == "failed"),
        "tasks": len(tasks),
        "task_ids": {t.id for t in tasks},
        "balance": account.credits,
        "ledger_sum": sum(e.amount for e in ledger if e.kind in ("reserve", "release")),
        "objects": len(names),
        "outputs": len(outputs),
        "store_names": names,
        "output_names": {o.name for o in outputs if o.task_id in {t.id for t in finished}},
    }
