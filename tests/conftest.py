"""Fixtures: databases (SQLite always, PostgreSQL when IMAGINE_TEST_DATABASE_URL is set),
the real app on loopback with an injected clock, and a real image host."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from imagine import admin
from imagine.clock import FakeClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.db.schema import Base
from imagine.engines.upstream import Sleep
from imagine.language import LanguageChecker
from imagine.services import Services, build_services
from imagine.settings import Settings
from tests.support import ImageHost, bound_socket, live_server

PG_ENV = "IMAGINE_TEST_DATABASE_URL"
REDIS_ENV = "IMAGINE_TEST_REDIS_URL"


@pytest.fixture
def redis_url() -> str:
    """A Redis for tests that need one (IMAGINE_TEST_REDIS_URL), else the test is skipped."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"{REDIS_ENV} not set")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test session, or None when not configured."""
    base = os.environ.get(PG_ENV)
    if not base:
        yield None
        return
    url = make_url(base)
    name = f"imagine_test_{uuid.uuid4().hex[:10]}"

    async def _admin(sql: str) -> None:
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str | None) -> str:
    """Each DB test runs on SQLite, and on PostgreSQL when one is configured."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}"
    if postgres_url is None:
        pytest.skip(f"{PG_ENV} not set")

    async def _reset() -> None:
        engine = create_engine(postgres_url)
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                names = ", ".join(t.name for t in Base.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        finally:
            await engine.dispose()

    asyncio.run(_reset())
    return postgres_url


@pytest.fixture(scope="session")
def language_checker() -> LanguageChecker:
    """The language model, loaded once."""
    return LanguageChecker()


@pytest.fixture
def image_host() -> Iterator[ImageHost]:
    """A real image host on loopback."""
    host = ImageHost()
    host.start()
    try:
        yield host
    finally:
        host.stop()


@dataclass
class Api:
    """The running service plus handles to its injected parts."""

    url: str
    services: Services
    clock: FakeClock
    sessions: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient

    async def account(
        self, email: str = "dev@example.com", credits: int = 1000, plan: str = "basic"
    ) -> str:
        """Create an account; returns its API key."""
        return await admin.create_account(
            self.sessions, self.clock, email=email, credits=credits, plan=plan
        )

    async def imagine(self, key: str, **body: Any) -> httpx.Response:
        """POST /api/v1/imagine."""
        return await self.client.post("/api/v1/imagine", json=body, headers={"Authorization": key})


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Per-test settings changes (override in a test module or with indirect params)."""
    return {}


PrepareServices = Callable[[Services], None]


@pytest.fixture
def prepare_services() -> PrepareServices:
    """Per-test changes to the collaborators before the app is built (e.g. a fake limiter or
    engine); parametrize `prepare_services` with a function to use one."""
    return lambda _services: None


@pytest.fixture
def upstream_sleep() -> Sleep:
    """How hosted engines wait between polls and retries (real time; a module whose tests
    only count polls, never race them, may override it with `quick_sleep`)."""
    return asyncio.sleep


async def quick_sleep(seconds: float) -> None:
    """A twentieth of each wait: a fake provider's task still takes the same polls (each
    answer the same), without the 2.4 s of backoff before its third one."""
    await asyncio.sleep(seconds / 20)


@pytest.fixture
def clock() -> FakeClock:
    """The service's clock (a test may parametrize `clock` with a SystemClock)."""
    return FakeClock()


@pytest.fixture
async def api(
    clock: FakeClock,
    database_url: str,
    tmp_path: Path,
    language_checker: LanguageChecker,
    settings_overrides: dict[str, Any],
    prepare_services: PrepareServices,
    upstream_sleep: Sleep,
) -> AsyncIterator[Api]:
    """The real app on a loopback port, with a fake clock and a fresh database."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "fetch_allow": ["127.0.0.1/32"],
        "public_url": f"http://127.0.0.1:{port}",
        "sweep_interval": 3600.0,
        "log_level": "WARNING",
    }
    values.update(settings_overrides)
    settings = Settings(**values)
    services = build_services(
        settings, clock=clock, language=language_checker, sleep=upstream_sleep
    )
    prepare_services(services)
    engine = create_engine(database_url)
    await upgrade(engine)
    sessions = session_factory(engine)
    try:
        with live_server(services, sock) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                yield Api(url, services, clock, sessions, client)
    finally:
        await engine.dispose()
