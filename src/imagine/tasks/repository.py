"""All SQL about tasks. Callers own the transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagine.db.schema import Task

TERMINAL = ("finished", "failed")


@dataclass(frozen=True)
class NewTask:
    """What admission records about a request."""

    account_id: str
    model: str
    prompt: str
    aspect_ratio: str
    output_format: str
    seed: int | None
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    credits: int


async def insert_task(
    session: AsyncSession, new: NewTask, *, now: datetime, status: str = "processing"
) -> Task:
    """Create a task that is running (or `pending`, for an async edit) and holds a
    reservation of `new.credits`."""
    task = Task(
        id=str(uuid.uuid4()),
        account_id=new.account_id,
        task_type="edit",
        model=new.model,
        prompt=new.prompt,
        aspect_ratio=new.aspect_ratio,
        output_format=new.output_format,
        seed=new.seed,
        webhook_url=new.webhook_url,
        webhook_secret=new.webhook_secret,
        status=status,
        percentage=0,
        credits_reserved=new.credits,
        charge_state="reserved",
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    return task


async def get_task(session: AsyncSession, task_id: str) -> Task | None:
    """A task by id."""
    return await session.get(Task, task_id)


async def tasks_of_account(
    session: AsyncSession, account_id: str, task_ids: list[str]
) -> list[Task]:
    """The account's tasks among `task_ids`, in the order asked; unknown ids left out."""
    if not task_ids:
        return []
    rows = await session.execute(
        select(Task).where(Task.account_id == account_id, Task.id.in_(task_ids))
    )
    found = {t.id: t for t in rows.scalars()}
    seen: set[str] = set()
    ordered: list[Task] = []
    for tid in task_ids:
        if tid in found and tid not in seen:
            seen.add(tid)
            ordered.append(found[tid])
    return ordered


async def finish_task(
    session: AsyncSession,
    task_id: str,
    *,
    output_name: str,
    warnings: list[str],
    engine: str,
    now: datetime,
    applied: list[str] | None = None,
    charged: bool = True,
    upstream_cost: float | None = None,
) -> Task | None:
    """Running → finished and the reservation → committed (or released, for an edit that
    is not `charged`); the updated task, or None if it was not running. One statement
    (UPDATE … RETURNING)."""
    return await _transition(
        session,
        task_id,
        status="finished",
        percentage=100,
        charge_state="committed" if charged else "released",
        output_name=output_name,
        warnings=json.dumps(warnings) if warnings else None,
        engine=engine,
        applied=json.dumps(applied) if applied else None,
        upstream_cost=upstream_cost,
        updated_at=now,
        finished_at=now,
    )


async def fail_task(
    session: AsyncSession, task_id: str, *, error: str, error_status: int, now: datetime
) -> Task | None:
    """Running → failed and the reservation → released; the updated task, or None if it
    was not running."""
    return await _transition(
        session,
        task_id,
        status="failed",
        charge_state="released",
        error=error,
        error_status=error_status,
        updated_at=now,
        finished_at=now,
    )


async def set_progress(
    session: AsyncSession, task_id: str, percentage: int, status: str, *, now: datetime
) -> None:
    """A running task's status and percentage; never lowers the percentage, never touches
    a task that has ended."""
    await session.execute(
        update(Task)
        .where(
            Task.id == task_id,
            Task.status.not_in(TERMINAL),
            Task.percentage <= percentage,
        )
        .values(status=status, percentage=percentage, updated_at=now)
    )


async def _transition(session: AsyncSession, task_id: str, **values: object) -> Task | None:
    result = await session.scalars(
        update(Task)
        .where(Task.id == task_id, Task.status.not_in(TERMINAL))
        .values(**values)
        .returning(Task),
        execution_options={"populate_existing": True},
    )
    return result.one_or_none()


async def stale_running_tasks(
    session: AsyncSession, started_before: datetime, limit: int = 200
) -> list[Task]:
    """Tasks still running that started before `started_before` (orphaned by a crash)."""
    rows = await session.execute(
        select(Task)
        .where(Task.status.not_in(TERMINAL), Task.created_at < started_before)
        .order_by(Task.created_at)
        .limit(limit)
    )
    return list(rows.scalars())
