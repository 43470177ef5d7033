"""Turn task rows into the contract's task object."""

from __future__ import annotations

import json

from imagine.db.schema import Task
from imagine.tasks.schemas import TaskObject


def output_url(public_url: str, name: str) -> str:
    """The client-facing URL of a stored output."""
    return f"{public_url}/files/{name}"


def task_object(task: Task, public_url: str) -> TaskObject:
    """The /fetch shape of a task."""
    return TaskObject(
        task_id=task.id,
        task_type=task.task_type,
        model=task.model,
        status=task.status,
        percentage=str(task.percentage),
        image_url=output_url(public_url, task.output_name) if task.output_name else None,
        error=task.error,
        engine=task.engine,
        warnings=json.loads(task.warnings) if task.warnings else [],
        applied=json.loads(task.applied) if task.applied else [],
    )
