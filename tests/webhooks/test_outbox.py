"""The outbox at the database level: written with the task's end, claimed once, fenced."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from imagine import admin
from imagine.accounts import repository as accounts_repo
from imagine.db.engine import create_engine, session_factory
from imagine.tasks import repository as tasks_repo
from imagine.tasks.repository import NewTask
from imagine.tasks.settle import enqueue_webhook, recover_orphans
from imagine.webhooks import repository as repo
from imagine.webhooks.repository import AttemptRecord
from tests.conftest import Api
from tests.webhooks.helpers import attempts, deliveries, eventually
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Poll the outbox often."""
    return {"webhook_poll_interval": 0.05}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback."""
    with Receiver() as r:
        yield r


async def _running_task(api: Api, email: str, webhook_url: str | None) -> str:
    account_id = (await admin.show_account(api.sessions, email=email)).id
    async with api.sessions.begin() as session:
        task = await tasks_repo.insert_task(
            session,
            NewTask(account_id, "flux-kontext-pro", "p", "1:1", "png", None, webhook_url, None, 4),
            now=api.clock.now(),
        )
        assert await accounts_repo.reserve(
            session, account_id, 4, task_id=task.id, now=api.clock.now()
        )
    return task.id


async def test_orphan_recovery_queues_the_failure_webhook(api: Api, receiver: Receiver) -> None:
    await api.account("o@example.com")
    task_id = await _running_task(api, "o@example.com", receiver.url)
    api.clock.advance(timedelta(hours=1))
    assert await recover_orphans(api.sessions, api.clock, timedelta(minutes=15)) == 1

    async def got() -> bool:
        return receiver.count() == 1

    await eventually(got, what="the orphan's webhook")
    payload = json.loads(receiver.requests[0].body)
    assert (payload["task_id"], payload["status"]) == (task_id, "failed")
    assert payload["error"] == "Task interrupted"
    # Failing it again (idempotent) writes no second event.
    assert await recover_orphans(api.sessions, api.clock, timedelta(minutes=15)) == 0
    assert len(await deliveries(api.sessions)) == 1


async def test_the_outbox_row_shares_the_task_transaction(api: Api) -> None:
    await api.account("o@example.com")
    task_id = await _running_task(api, "o@example.com", "http://127.0.0.1:9/hook")
    with pytest.raises(RuntimeError):
        async with api.sessions.begin() as session:
            task = await tasks_repo.fail_task(
                session, task_id, error="x", error_status=500, now=api.clock.now()
            )
            assert task is not None
            await enqueue_webhook(session, task, public_url=None, now=api.clock.now())
            raise RuntimeError("crash before commit")
    assert await deliveries(api.sessions) == []
    async with api.sessions() as session:
        task = await tasks_repo.get_task(session, task_id)
        assert task is not None and task.status == "processing"


@pytest.mark.parametrize("settings_overrides", [{"run_worker_in_process": False}])
async def test_claims_are_exclusive_leased_and_fenced(api: Api, database_url: str) -> None:
    await api.account("o@example.com")
    ids = []
    for _ in range(30):
        task_id = await _running_task(api, "o@example.com", "http://127.0.0.1:9/hook")
        async with api.sessions.begin() as session:
            task = await tasks_repo.fail_task(
                session, task_id, error="x", error_status=500, now=api.clock.now()
            )
            assert task is not None
            delivery = await enqueue_webhook(session, task, public_url=None, now=api.clock.now())
            assert delivery is not None
            ids.append(delivery.id)
    now = api.clock.now()
    lease = timedelta(seconds=45)

    # Several engines (as several workers would) claim at once: every row exactly once.
    engines = [create_engine(database_url) for _ in range(4)]
    try:

        async def claimer(n: int) -> list[str]:
            sessions = session_factory(engines[n])
            taken: list[str] = []
            for _ in range(10):
                async with sessions.begin() as session:
                    claims = await repo.claim_due(
                        session, now=now, limit=3, lease=lease, token=f"w{n}"
                    )
                taken += [c.id for c in claims]
            return taken

        results = await asyncio.gather(*(claimer(n) for n in range(4)))
    finally:
        for engine in engines:
            await engine.dispose()
    claimed = [i for r in results for i in r]
    assert sorted(claimed) == sorted(ids)

    async with api.sessions.begin() as session:
        assert await repo.claim_due(session, now=now, limit=50, lease=lease, token="x") == []
    later = now + lease + timedelta(seconds=1)
    async with api.sessions.begin() as session:
        again = await repo.claim_due(session, now=later, limit=50, lease=lease, token="late")
    assert len(again) == 30
    record = AttemptRecord(later, 5, 500, "no", "HTTP 500", repo.PENDING, later)
    stale = next(c for c in again if c.id == ids[0])
    async with api.sessions.begin() as session:
        # The first lease holder finishing late cannot overwrite the new holder's state.
        old = dataclasses.replace(stale, token="w0")
        assert not await repo.record_attempt(session, old, "w0", record, now=later)
        assert await repo.record_attempt(session, stale, "late", record, now=later)
    assert len(await attempts(api.sessions)) == 2
