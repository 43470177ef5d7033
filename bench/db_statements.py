"""CPU per hot database statement: SQLAlchemy ORM vs Core, SQLite (and PostgreSQL when
IMAGINE_TEST_DATABASE_URL is set), in one process, sequential.

Run: PYTHONPATH=src .venv/bin/python bench/db_statements.py [--n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, update

from imagine import admin
from imagine.accounts import keys
from imagine.accounts import repository as accounts_repo
from imagine.clock import SystemClock
from imagine.db.engine import create_engine, read_session_factory, session_factory
from imagine.db.migrate import upgrade
from imagine.db.schema import Account, ApiKey, LedgerEntry, Task


async def _cpu_ms(work: Callable[[], Awaitable[object]], n: int) -> float:
    for _ in range(min(n, 50)):
        await work()
    started = time.process_time()
    for _ in range(n):
        await work()
    return (time.process_time() - started) / n * 1000


async def measure(url: str, n: int) -> dict[str, float]:
    """ORM and Core variants of the hot writes (ledger line, balance update), the auth
    lookup and the task read."""
    engine = create_engine(url)
    await upgrade(engine)
    sessions = session_factory(engine)
    reads = read_session_factory(engine)
    raw_key = await admin.create_account(
        sessions, SystemClock(), email=f"bench{time.time_ns()}@x", credits=0, plan="basic"
    )
    digest = keys.hash_key(raw_key)
    ro = engine.execution_options(imagine_begin="DEFERRED")

    async def auth_orm() -> object:
        async with reads() as session:
            return await accounts_repo.account_for_key(session, raw_key)

    async def auth_core() -> object:
        async with ro.connect() as conn:
            row = await conn.execute(
                select(Account.id, Account.plan, ApiKey.revoked_at)
                .join(ApiKey, ApiKey.account_id == Account.id)
                .where(ApiKey.key_hash == digest)
            )
            return row.first()

    async def task_orm() -> object:
        async with reads() as session:
            return await session.get(Task, "00000000-0000-0000-0000-000000000000")

    async def task_core() -> object:
        async with ro.connect() as conn:
            row = await conn.execute(
                select(Task.__table__).where(Task.id == "00000000-0000-0000-0000-000000000000")
            )
            return row.first()

    account_id = (await auth_orm()).id  # type: ignore[attr-defined]
    now = datetime.now(UTC)

    # Writes: one transaction of 20 statements each, so BEGIN/COMMIT weigh little.
    async def ledger_orm() -> object:
        async with sessions.begin() as session:
            for _ in range(20):
                session.add(
                    LedgerEntry(
                        account_id=account_id,
                        kind="bench",
                        amount=0,
                        balance_after=0,
                        created_at=now,
                    )
                )
                await session.flush()
        return None

    async def ledger_core() -> object:
        async with sessions.begin() as session:
            for _ in range(20):
                await session.execute(
                    insert(LedgerEntry.__table__).values(  # type: ignore[arg-type]
                        account_id=account_id,
                        kind="bench",
                        amount=0,
                        balance_after=0,
                        created_at=now,
                    )
                )
        return None

    async def reserve_orm() -> object:
        async with sessions.begin() as session:
            for _ in range(20):
                await session.execute(
                    update(Account)
                    .where(Account.id == account_id)
                    .values(credits=Account.credits + 0)
                    .returning(Account.credits)
                )
        return None

    async def reserve_core() -> object:
        table = Account.__table__
        async with sessions.begin() as session:
            for _ in range(20):
                await session.execute(
                    update(table)
                    .where(table.c.id == account_id)  # type: ignore[arg-type]
                    .values(credits=table.c.credits + 0)
                    .returning(table.c.credits)
                )
        return None

    try:
        writes = max(n // 20, 10)
        return {
            "ledger line, ORM add + flush": await _cpu_ms(ledger_orm, writes) / 20,
            "ledger line, Core INSERT": await _cpu_ms(ledger_core, writes) / 20,
            "balance UPDATE..RETURNING, ORM": await _cpu_ms(reserve_orm, writes) / 20,
            "balance UPDATE..RETURNING, Core": await _cpu_ms(reserve_core, writes) / 20,
            "auth lookup, ORM session": await _cpu_ms(auth_orm, n),
            "auth lookup, Core connection": await _cpu_ms(auth_core, n),
            "task by id, ORM session.get": await _cpu_ms(task_orm, n),
            "task by id, Core connection": await _cpu_ms(task_core, n),
        }
    finally:
        await engine.dispose()


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    urls = {"sqlite": f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'b.db'}"}
    if os.environ.get("IMAGINE_TEST_DATABASE_URL"):
        urls["postgresql"] = os.environ["IMAGINE_TEST_DATABASE_URL"]
    print(f"{'statement':36} " + " ".join(f"{name:>12}" for name in urls) + "   (CPU ms)")
    results = {name: asyncio.run(measure(url, args.n)) for name, url in urls.items()}
    for label in next(iter(results.values())):
        print(f"{label:36} " + " ".join(f"{results[n][label]:12.3f}" for n in urls))


if __name__ == "__main__":
    main()
