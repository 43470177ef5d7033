"""Async mode (`Prefer: respond-async`) through real HTTP: 202 at once, the edit finishes in
the background, admission errors stay synchronous, failures are refunded, shutdown and
restarts settle what was left running."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from PIL import Image

from imagine.db.schema import Account, Task
from imagine.engines.base import EditOptions, EditResult
from imagine.errors import ImagineError, UpstreamFailed
from imagine.language import LanguageChecker
from imagine.services import Services, build_services
from imagine.settings import Settings
from tests.conftest import Api, PrepareServices
from tests.support import bound_socket, image_bytes, live_server
from tests.webhooks.helpers import deliveries, eventually

ASYNC = {"Prefer": "respond-async"}


@dataclass
class GatedEngine:
    """An engine fake that reports half-way, then waits for the test to let it finish."""

    proceed: threading.Event = field(default_factory=threading.Event)
    fail_with: ImagineError | None = None
    calls: int = 0

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        self.calls += 1

        def work() -> EditResult:
            if options.progress is not None:
                options.progress(0.5)
            if not self.proceed.wait(30):
                raise TimeoutError("the test never let the engine finish")
            if self.fail_with is not None:
                raise self.fail_with
            if options.progress is not None:
                options.progress(1.0)
            return EditResult(image=image, engine="gated", applied=["gated"])

        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)


@pytest.fixture
def gated() -> GatedEngine:
    """The engine of both models in these tests."""
    return GatedEngine()


@pytest.fixture
def prepare_services(gated: GatedEngine) -> PrepareServices:
    """Serve both models with the gated engine."""

    def prepare(services: Services) -> None:
        for route in services.routes.values():
            route.engine = gated

    return prepare


def _data_uri() -> str:
    import base64

    return "data:image/jpeg;base64," + base64.b64encode(image_bytes((320, 240))).decode()


async def _start(api: Api, key: str, **body: Any) -> httpx.Response:
    body = {"prompt": "make it black and white", "image_url": _data_uri(), **body}
    return await api.client.post(
        "/api/v1/imagine", json=body, headers={"Authorization": key, **ASYNC}
    )


async def _task(api: Api, key: str, task_id: str) -> dict[str, Any]:
    r = await api.client.get(
        "/api/v1/fetch", params={"task_id": task_id}, headers={"Authorization": key}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _credits(api: Api, key: str) -> int:
    r = await api.client.get("/api/v1/account", headers={"Authorization": key})
    return int(r.json()["credits"])


async def _until(api: Api, key: str, task_id: str, *statuses: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        task = await _task(api, key, task_id)
        return task if task["status"] in statuses else None

    return await eventually(check, within=30, what=f"task {statuses}")


async def test_202_at_once_then_poll_until_finished(api: Api, gated: GatedEngine) -> None:
    key = await api.account(credits=100)
    r = await _start(api, key)
    assert r.status_code == 202, r.text
    task_id = r.json()["task_id"]
    assert r.json() == {"task_id": task_id, "status": "pending"}
    assert r.headers["preference-applied"] == "respond-async"
    assert r.headers["location"] == f"/api/v1/fetch?task_id={task_id}"
    seen: list[int] = []

    async def half_way() -> bool:
        task = await _task(api, key, task_id)
        assert task["status"] in ("pending", "starting", "processing"), task
        seen.append(int(task["percentage"]))
        return 0 < seen[-1] < 100

    await eventually(half_way, within=30, what="a percentage between 0 and 100")
    gated.proceed.set()

    async def finished() -> dict[str, Any] | None:
        task = await _task(api, key, task_id)
        seen.append(int(task["percentage"]))
        return task if task["status"] == "finished" else None

    task = await eventually(finished, within=30, what="the finished task")
    assert seen == sorted(seen), seen  # monotone
    assert seen[-1] == 100
    assert task["image_url"] and task["error"] is None and task["engine"] == "gated"
    image = await api.client.get(task["image_url"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    # The contract's POST /fetch shows the same task; the edit was charged once.
    posted = await api.client.post(
        "/api/v1/fetch", json={"task_id": task_id}, headers={"Authorization": key}
    )
    assert posted.json() == task
    assert await _credits(api, key) == 92


@pytest.mark.parametrize("prepare_services", [lambda _services: None])
async def test_offline_edit_finishes_in_background(api: Api) -> None:
    key = await api.account(credits=100)
    r = await _start(api, key)
    assert r.status_code == 202
    task = await _until(api, key, r.json()["task_id"], "finished", "failed")
    assert task["status"] == "finished", task
    assert task["engine"] == "offline"
    assert task["applied"]
    assert await _credits(api, key) == 92


async def test_admission_errors_stay_synchronous(api: Api, gated: GatedEngine) -> None:
    broke = await api.account("broke@example.com", credits=0)
    r = await _start(api, broke)
    assert r.status_code == 402
    assert r.json() == {"errors": [{"msg": "Insufficient credits"}]}
    bad = await _start(api, broke, prompt="  ", aspect_ratio="5:1")
    assert bad.status_code == 400
    assert len(bad.json()["errors"]) == 2
    # In-flight async edits count against the plan's concurrency (basic: 5).
    key = await api.account("busy@example.com", credits=1000)
    started = [await _start(api, key) for _ in range(5)]
    assert [s.status_code for s in started] == [202] * 5
    limited = await _start(api, key)
    assert limited.status_code == 429
    assert limited.json() == {"errors": [{"msg": "Rate limit exceeded"}]}
    gated.proceed.set()
    for s in started:
        await _until(api, key, s.json()["task_id"], "finished")
    assert await _credits(api, key) == 1000 - 5 * 8
    assert (await _start(api, key)).status_code == 202  # the slots came back


@pytest.mark.parametrize("settings_overrides", [{"max_background_edits": 1}])
async def test_server_wide_cap_answers_503(api: Api, gated: GatedEngine) -> None:
    key = await api.account(credits=100)
    first = await _start(api, key)
    assert first.status_code == 202
    full = await _start(api, key)
    assert full.status_code == 503
    assert full.headers["retry-after"]
    assert "async" in full.json()["errors"][0]["msg"]
    assert await _credits(api, key) == 92  # nothing reserved for the refused one
    gated.proceed.set()
    await _until(api, key, first.json()["task_id"], "finished")


async def test_failed_background_edit_is_refunded_with_webhook(
    api: Api, gated: GatedEngine
) -> None:
    key = await api.account(credits=100)
    gated.fail_with = UpstreamFailed("Upstream engine failed")
    gated.proceed.set()
    r = await _start(api, key, webhook_url="http://127.0.0.1:9/hook")
    assert r.status_code == 202
    task = await _until(api, key, r.json()["task_id"], "failed")
    assert task["error"] == "Upstream engine failed"
    assert task["image_url"] is None
    assert await _credits(api, key) == 100
    sent = [d for d in await deliveries(api.sessions) if d.task_id == task["task_id"]]
    assert len(sent) == 1
    assert json.loads(sent[0].payload)["status"] == "failed"


async def test_client_leaving_does_not_cancel(api: Api, gated: GatedEngine) -> None:
    key = await api.account(credits=100)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as short_lived:
        r = await short_lived.post(
            "/api/v1/imagine",
            json={"prompt": "make it black and white", "image_url": _data_uri()},
            headers={"Authorization": key, **ASYNC},
        )
    assert r.status_code == 202
    task_id = r.json()["task_id"]
    await anyio.sleep(0.3)
    gated.proceed.set()
    assert (await _until(api, key, task_id, "finished", "failed"))["status"] == "finished"


async def test_restart_fails_and_refunds_a_task_left_processing(
    api: Api,
    gated: GatedEngine,
    tmp_path: Path,
    database_url: str,
    language_checker: LanguageChecker,
) -> None:
    """A process that died mid-edit leaves its task `processing`; a new app on the same
    database fails and refunds it (with its webhook) once the reservation timed out."""
    key = await api.account(credits=100)
    r = await _start(api, key, webhook_url="http://127.0.0.1:9/hook")
    task_id = r.json()["task_id"]

    async def processing() -> bool:
        return int((await _task(api, key, task_id))["percentage"]) > 20

    await eventually(processing, within=30, what="the edit under way")
    assert await _credits(api, key) == 92
    api.clock.advance(timedelta(minutes=16))  # past IMAGINE_RESERVATION_TIMEOUT
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        log_level="WARNING",
    )
    restarted = build_services(settings, clock=api.clock, language=language_checker)
    with live_server(restarted, sock):  # its first sweep runs at start
        task = await _until(api, key, task_id, "failed")
    assert task["error"] == "Task interrupted"
    assert await _credits(api, key) == 100
    sent = [d for d in await deliveries(api.sessions) if d.task_id == task_id]
    assert len(sent) == 1
    assert json.loads(sent[0].payload)["status"] == "failed"
    # The first process's edit ending late changes nothing: no charge, no second event.
    gated.proceed.set()
    await anyio.sleep(0.5)
    assert (await _task(api, key, task_id))["error"] == "Task interrupted"
    assert await _credits(api, key) == 100
    assert len([d for d in await deliveries(api.sessions) if d.task_id == task_id]) == 1


async def test_shutdown_cancels_after_grace_and_refunds(
    tmp_path: Path, database_url: str, language_checker: LanguageChecker, gated: GatedEngine
) -> None:
    from imagine import admin
    from imagine.clock import FakeClock
    from imagine.db.engine import create_engine, session_factory
    from imagine.db.migrate import upgrade

    clock = FakeClock()
    sock = bound_socket()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        log_level="WARNING",
        async_shutdown_grace=0.3,
    )
    services = build_services(settings, clock=clock, language=language_checker)
    for route in services.routes.values():
        route.engine = gated
    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    try:
        key = await admin.create_account(
            sessions, clock, email="s@example.com", credits=100, plan="basic"
        )
        with live_server(services, sock) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                r = await client.post(
                    "/api/v1/imagine",
                    json={"prompt": "make it black and white", "image_url": _data_uri()},
                    headers={"Authorization": key, **ASYNC},
                )
                assert r.status_code == 202
                task_id = r.json()["task_id"]
                await eventually(lambda: anyio.to_thread.run_sync(lambda: gated.calls > 0))
        async with sessions() as session:
            task = await session.get(Task, task_id)
            assert task is not None
            assert task.status == "failed"
            assert task.error is not None and "shut down" in task.error
            assert task.charge_state == "released"
            account = await session.get(Account, task.account_id)
            assert account is not None and account.credits == 100
    finally:
        gated.proceed.set()
        await engine.dispose()
