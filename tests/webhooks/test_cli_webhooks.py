"""`imagine webhooks …` and the signing secret in `imagine accounts show`, as real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from imagine.db.engine import create_engine, session_factory
from imagine.db.schema import WebhookDelivery
from tests.support import run
from tests.webhooks.helpers import queue_failed_task_events

IMAGINE = [sys.executable, "-m", "imagine"]


def _imagine(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGINE_")}
    env["IMAGINE_DATA_DIR"] = str(tmp_path / "data")
    env["IMAGINE_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run(
        [*IMAGINE, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def _give_up(database_url: str, delivery_id: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine).begin() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(status="failed", attempts=8, last_error="HTTP 500")
            )
    finally:
        await engine.dispose()


def test_webhooks_commands(tmp_path: Path, database_url: str) -> None:
    pending, failed = run(queue_failed_task_events(database_url, "http://127.0.0.1:9/hook", 2))
    run(_give_up(database_url, failed))

    listed = _imagine(database_url, tmp_path, "webhooks", "list")
    assert listed.returncode == 0, listed.stderr
    assert pending in listed.stdout and failed in listed.stdout
    only_failed = _imagine(database_url, tmp_path, "webhooks", "list", "--failed")
    assert failed in only_failed.stdout and pending not in only_failed.stdout
    assert "(HTTP 500)" in only_failed.stdout

    redone = _imagine(database_url, tmp_path, "webhooks", "redeliver", failed)
    assert redone.returncode == 0, redone.stderr
    assert f"{failed} queued for delivery" in redone.stdout
    none_failed = _imagine(database_url, tmp_path, "webhooks", "list", "--failed")
    assert none_failed.stdout.strip() == "no webhook deliveries"
    unknown = _imagine(database_url, tmp_path, "webhooks", "redeliver", "msg_nope")
    assert unknown.returncode == 1
    assert "no webhook delivery" in unknown.stderr

    shown = _imagine(database_url, tmp_path, "accounts", "show", "--email", "w@example.com")
    old = re.findall(r"webhook signing secret: (whsec_\S+)", shown.stdout)
    assert len(old) == 1, shown.stdout
    rotated = _imagine(
        database_url,
        tmp_path,
        "webhooks",
        "rotate-secret",
        "--email",
        "w@example.com",
        "--grace",
        "1h",
    )
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip().splitlines()[-1]
    assert new.startswith("whsec_") and new != old[0]
    shown = _imagine(database_url, tmp_path, "accounts", "show", "--email", "w@example.com")
    assert f"webhook signing secret: {new}" in shown.stdout
    bad = _imagine(
        database_url,
        tmp_path,
        "webhooks",
        "rotate-secret",
        "--email",
        "w@example.com",
        "--grace",
        "soon",
    )
    assert bad.returncode == 1
