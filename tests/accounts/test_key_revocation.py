"""Revocation is scoped: exactly one key, chosen by id, whole key or a unique prefix; a
prefix shared by keys of two customers revokes nothing (it used to revoke both)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine import admin
from imagine.admin import AdminError
from imagine.clock import FakeClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from tests.support import create_database

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    await upgrade(engine)
    yield session_factory(engine)
    await engine.dispose()


async def _shared_prefix(sessions: Sessions, clock: FakeClock) -> tuple[str, str, str]:
    """Keys of two accounts whose first 12 characters agree (random keys: search for one);
    returns the first key, the second key and the second key's account email."""
    await admin.create_account(sessions, clock, email="a@example.com", credits=0, plan="basic")
    await admin.create_account(sessions, clock, email="b@example.com", credits=0, plan="basic")
    seen: dict[str, tuple[str, str]] = {}
    for n in range(600):
        email = "a@example.com" if n % 2 else "b@example.com"
        key = await admin.new_key(sessions, clock, email=email)
        other = seen.get(key[:12])
        if other is not None and other[0] != email:
            return other[1], key, email
        seen.setdefault(key[:12], (email, key))
    raise AssertionError("no shared 12-character prefix among 600 random keys")


async def test_a_prefix_shared_by_two_customers_revokes_nothing(sessions: Sessions) -> None:
    clock = FakeClock()
    first, second, second_email = await _shared_prefix(sessions, clock)
    with pytest.raises(AdminError, match="nothing was revoked"):
        await admin.revoke_key(sessions, clock, selector=first[:12])
    for email in ("a@example.com", "b@example.com"):
        assert all(k.revoked_at is None for k in await admin.list_keys(sessions, email=email))
    # The whole key, or its id from `keys list`, picks exactly one.
    assert (await admin.revoke_key(sessions, clock, selector=first)).prefix == first[:18]
    listed = await admin.list_keys(sessions, email=second_email)
    assert all(k.revoked_at is None for k in listed)
    target = next(k for k in listed if k.prefix == second[:18])
    assert (await admin.revoke_key(sessions, clock, selector=target.id)).id == target.id
    with pytest.raises(AdminError, match="no active key"):
        await admin.revoke_key(sessions, clock, selector=target.id)


async def test_short_prefixes_are_refused(sessions: Sessions) -> None:
    with pytest.raises(AdminError, match="at least 12"):
        await admin.revoke_key(sessions, FakeClock(), selector="japi_live_")


def test_cli_lists_keys_without_showing_them(tmp_path: Path) -> None:
    env = {"IMAGINE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    run = [sys.executable, "-m", "imagine"]
    create_database(f"sqlite+aiosqlite:///{tmp_path / 'imagine.db'}")  # as the first serve does
    created = subprocess.run(
        [*run, "accounts", "create", "--email", "k@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    listed = subprocess.run(
        [*run, "keys", "list", "--email", "k@example.com"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert key not in listed.stdout and key[:18] in listed.stdout
    key_id = listed.stdout.split()[0]
    revoked = subprocess.run(
        [*run, "keys", "revoke", key_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"revoked 1 key(s): {key_id}" in revoked.stdout
