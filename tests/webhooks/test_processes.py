"""Real processes: `imagine serve` killed with SIGKILL and restarted; two `imagine worker`s."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from imagine import admin
from imagine.db.engine import create_engine, session_factory
from imagine.db.schema import WebhookAttempt, WebhookDelivery
from tests.support import bound_socket, image_bytes, run
from tests.webhooks.helpers import attempts, deliveries, queue_failed_task_events
from tests.webhooks.receiver import Answer, Received, Receiver

IMAGINE = [sys.executable, "-m", "imagine"]
ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env.update(
        IMAGINE_DATA_DIR=str(tmp_path / "data"),
        IMAGINE_DATABASE_URL=database_url,
        IMAGINE_FETCH_ALLOW="127.0.0.1/32",
        IMAGINE_WEBHOOK_POLL_INTERVAL="0.1",
        PYTHONPATH=str(ROOT / "src"),
    )
    env.update(extra)
    return env


def _free_port() -> int:
    sock = bound_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _wait(check: Callable[[], object], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def _process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([*IMAGINE, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _deliveries(database_url: str) -> list[WebhookDelivery]:
    async def go() -> list[WebhookDelivery]:
        engine = create_engine(database_url)
        try:
            return await deliveries(session_factory(engine))
        finally:
            await engine.dispose()

    result: list[WebhookDelivery] = run(go())
    return result


def _attempts(database_url: str) -> list[WebhookAttempt]:
    async def go() -> list[WebhookAttempt]:
        engine = create_engine(database_url)
        try:
            return await attempts(session_factory(engine))
        finally:
            await engine.dispose()

    result: list[WebhookAttempt] = run(go())
    return result


def _serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*IMAGINE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            assert proc.poll() is None, log.read_text()
            return False

    _wait(up, "imagine serve")
    return proc, base


@pytest.mark.slow
def test_event_survives_sigkill_of_the_service_while_the_receiver_is_down(
    tmp_path: Path, database_url: str
) -> None:
    hook_port = _free_port()  # nothing listens here yet: connection refused
    env = _env(tmp_path, database_url, IMAGINE_WEBHOOK_RETRY_SCHEDULE=",".join(["1"] * 20))
    log = tmp_path / "serve.log"
    proc, base = _serve(env, log)
    try:
        # Not a terminal: the first key is handed over in a file, never in the log.
        assert "japi_live_" not in log.read_text()
        key = (tmp_path / "data" / "bootstrap-key.txt").read_text().strip()
        data = base64.b64encode(image_bytes((64, 48))).decode()
        r = httpx.post(
            base + "/api/v1/imagine",
            headers={"Authorization": key},
            json={
                "prompt": "make it sepia",
                "image_url": f"data:image/jpeg;base64,{data}",
                "webhook_url": f"http://127.0.0.1:{hook_port}/hook",
            },
            timeout=60,
        )
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]
        _wait(lambda: len(_attempts(database_url)) >= 1, "a refused first attempt")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    [delivery] = _deliveries(database_url)
    assert delivery.status == "pending"
    assert all(a.status_code is None and a.error for a in _attempts(database_url))

    with Receiver(port=hook_port) as receiver:
        proc, base = _serve(env, log)
        try:
            _wait(lambda: receiver.count() >= 1, "the event after the restart")
            _wait(lambda: _deliveries(database_url)[0].status == "delivered", "delivered")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert receiver.count() == 1
    got = receiver.requests[0]
    secret = run(_secret(database_url))
    payload = Webhook(secret).verify(got.body, got.headers)
    assert (payload["task_id"], payload["status"]) == (task_id, "finished")
    assert got.headers["webhook-id"] == delivery.id


async def _secret(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        summary = await admin.show_account(session_factory(engine), email="admin@localhost")
        return summary.signing_secret
    finally:
        await engine.dispose()


@pytest.mark.slow
def test_two_workers_never_deliver_the_same_attempt_twice(
    tmp_path: Path, database_url: str
) -> None:
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def first_fails(got: Received) -> Answer:
        with lock:
            seen[got.headers["webhook-id"]] += 1
            first = seen[got.headers["webhook-id"]] == 1
        return Answer(500 if first else 200, delay=0.05)

    env = _env(tmp_path, database_url, IMAGINE_WEBHOOK_RETRY_SCHEDULE="0.5,0.5,0.5")
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    with (
        Receiver(responder=first_fails) as receiver,
        _process(["worker"], env, logs[0]) as w1,
        _process(["worker"], env, logs[1]) as w2,
    ):
        _wait(
            lambda: all(p.exists() and "webhook delivery started" in p.read_text() for p in logs),
            "both workers",
        )
        ids = run(queue_failed_task_events(database_url, receiver.url, 60))
        _wait(
            lambda: all(d.status == "delivered" for d in _deliveries(database_url)),
            "every delivery",
        )
        for proc in (w1, w2):
            proc.send_signal(signal.SIGTERM)
        for proc in (w1, w2):
            assert proc.wait(timeout=30) == 0, "a worker did not stop cleanly on SIGTERM"

    # Each event: exactly one failed attempt and exactly one retry, never a duplicate send.
    assert receiver.ids() == Counter({i: 2 for i in ids})
    recorded = _attempts(database_url)
    per_delivery: dict[str, list[int]] = {}
    for a in recorded:
        per_delivery.setdefault(a.delivery_id, []).append(a.number)
    odd = {d for d, numbers in per_delivery.items() if numbers != [1, 2]}
    assert per_delivery == {i: [1, 2] for i in ids}, "\n".join(
        f"{a.delivery_id[-6:]} #{a.number} {a.status_code} {a.error} {a.worker} {a.started_at}"
        for a in recorded
        if a.delivery_id in odd
    )
    workers = {a.worker.rsplit(":", 1)[0] for a in recorded}
    assert len(workers) == 2, f"expected both workers to deliver, got {workers}"
    payload = json.loads(receiver.requests[0].body)
    assert payload["status"] == "failed"
