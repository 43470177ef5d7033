"""PostgreSQL LISTEN/NOTIFY: a separate `imagine worker` sends a webhook as soon as the task
that queued it commits in another process, not at its next poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagine.webhooks.listener import listen_dsn
from tests.webhooks.helpers import queue_failed_task_events
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_processes import _env, _process, _wait


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_only_postgresql_urls_are_listened_to() -> None:
    assert listen_dsn("sqlite+aiosqlite:///x.db") is None
    assert listen_dsn("postgresql+asyncpg://u:p@db:5432/imagine") == (
        "postgresql://u:p@db:5432/imagine"
    )


def test_a_separate_worker_is_woken_by_the_commit(
    postgres_url: str | None, tmp_path: Path, receiver: Receiver
) -> None:
    if postgres_url is None:
        pytest.skip("IMAGINE_TEST_DATABASE_URL not set")
    # A poll interval far longer than the test: only the NOTIFY can wake the worker.
    env = _env(tmp_path, postgres_url, IMAGINE_WEBHOOK_POLL_INTERVAL="120")
    log = tmp_path / "worker.log"
    with _process(["worker"], env, log) as worker:
        _wait(lambda: b"outbox listener ready" in log.read_bytes(), "the worker's listener")
        time.sleep(0.5)  # the first (empty) claim is done; the loop now waits on the signal
        latencies = []
        for round_ in range(3):
            before = receiver.count()
            asyncio.run(queue_failed_task_events(postgres_url, receiver.url, 1, f"r{round_}"))
            committed = time.time()
            _wait(lambda n=before: receiver.count() > n, "the webhook", within=60)
            latencies.append(receiver.requests[-1].at - committed)
        assert worker.poll() is None
    print(f"webhook sent after commit: {', '.join(f'{s * 1000:.0f} ms' for s in latencies)}")
    assert max(latencies) < 30  # far below the 120 s poll interval
