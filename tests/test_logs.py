"""The process log never carries a secret: not in tracebacks of crashing requests (no frame
locals), not in database errors, not in logged URLs; and httpx/aiosqlite stay quiet."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import text

from imagine.fetch.client import build_outbound_client
from imagine.logs import configure_logging, redact_url, unconfigure_logging
from imagine.settings import Settings
from tests.conftest import Api
from tests.support import ImageHost, image_bytes

PROVIDER_KEY = "bfl-provider-key-5f0c1d9a7e3b42c8"
WEBHOOK_SECRET = "customer-webhook-secret-9d8c7b6a"
TINY_JPEG = "data:image/jpeg;base64," + base64.b64encode(image_bytes((64, 48))).decode()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # A provider key is configured (so it lives in settings), the models stay offline.
    return {
        "bfl_api_key": PROVIDER_KEY,
        "engines": {"flux-kontext-max": ["offline"], "flux-kontext-pro": ["offline"]},
    }


@pytest.fixture
def production_log() -> Iterator[io.StringIO]:
    """Logging configured the way `imagine serve` does in production, into a buffer."""
    stream = io.StringIO()
    handler = configure_logging("INFO", json=True, stream=stream)
    try:
        yield stream
    finally:
        unconfigure_logging(handler)


def _events(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_a_crashing_request_logs_its_traceback_but_no_key_or_secret(
    api: Api, production_log: io.StringIO
) -> None:
    key = await api.account(credits=100)

    # 1. The task crashes inside the pipeline: the output directory is now a file.
    out = api.services.settings.resolved_output_dir()
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"not a directory")
    r = await api.imagine(
        key, prompt="add snow", image_url=TINY_JPEG, webhook_secret=WEBHOOK_SECRET
    )
    assert r.status_code == 500, r.text

    # 2. The request crashes outside the pipeline (a database failure at admission): the
    # traceback then runs through the auth gate, whose frame holds the raw key.
    async with api.sessions.begin() as session:
        await session.execute(text("ALTER TABLE tasks RENAME TO tasks_away"))
    try:
        r = await api.imagine(
            key, prompt="add snow", image_url=TINY_JPEG, webhook_secret=WEBHOOK_SECRET
        )
    finally:
        async with api.sessions.begin() as session:
            await session.execute(text("ALTER TABLE tasks_away RENAME TO tasks"))
    assert r.status_code == 500, r.text

    logged = production_log.getvalue()
    events = _events(production_log)  # every line is one JSON object
    crashed = [e for e in events if e.get("event") == "task crashed"]
    unhandled = [e for e in events if e.get("event") == "unhandled error"]
    assert crashed and unhandled, logged
    for event in (crashed[0], unhandled[0]):
        assert "Traceback (most recent call last)" in event["exception"]
    assert re.search(r"FileExistsError|NotADirectoryError", crashed[0]["exception"])
    assert "tasks" in unhandled[0]["exception"]  # no such table / relation
    assert key not in logged
    assert key.removeprefix("japi_live_") not in logged
    assert PROVIDER_KEY not in logged
    assert WEBHOOK_SECRET not in logged


def test_settings_and_task_records_hide_secrets_in_their_repr() -> None:
    from imagine.tasks.repository import NewTask

    settings = Settings(
        bfl_api_key=PROVIDER_KEY,
        fal_api_key=PROVIDER_KEY,
        replicate_api_token=PROVIDER_KEY,
        database_url="postgresql+asyncpg://u:dbpass-7c1e@db/x",
    )
    assert PROVIDER_KEY not in repr(settings) and "dbpass-7c1e" not in repr(settings)
    assert settings.resolved_database_url().endswith("dbpass-7c1e@db/x")
    task = NewTask("acc", "m", "p", "1:1", "png", None, "https://h/", WEBHOOK_SECRET, 8)
    assert WEBHOOK_SECRET not in repr(task)


def test_tracebacks_never_show_locals_on_a_terminal_either() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", json=False, stream=stream)
    try:
        secret_local = WEBHOOK_SECRET  # noqa: F841 - the local a rich traceback would print
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            structlog.get_logger("test").exception("it failed")
            logging.getLogger("asyncio").exception("stdlib too")
    finally:
        unconfigure_logging(handler)
    assert "RuntimeError" in stream.getvalue()
    assert "stdlib too" in stream.getvalue()
    assert WEBHOOK_SECRET not in stream.getvalue()


async def test_outbound_urls_with_credentials_are_not_logged_even_at_debug(
    image_host: ImageHost,
) -> None:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", json=True, stream=stream)
    url = image_host.add("/img.png", image_bytes((8, 8), "PNG")) + "?token=secret-in-query-42"
    settings = Settings(fetch_allow=["127.0.0.1/32"])
    try:
        async with build_outbound_client(settings) as client:
            response = await client.get(url)
        assert response.status_code in (200, 404)  # served, whatever the query means to it
        structlog.get_logger("test").debug("fetched", url=redact_url(url))
    finally:
        unconfigure_logging(handler)
    logged = stream.getvalue()
    assert "/img.png" in logged  # the redacted URL is there, the token is not
    assert "secret-in-query-42" not in logged
    assert "HTTP Request" not in logged


def test_redact_url_drops_query_userinfo_and_fragment() -> None:
    assert redact_url("https://u:p@host:8443/a/b?X-Amz-Signature=s#frag") == (
        "https://host:8443/a/b"
    )
    assert redact_url("http://[::1]/x?token=t") == "http://[::1]/x"
    assert redact_url("data:image/png;base64,AAAA") == "data:…"
    assert redact_url(httpx.URL("https://h/p?q=1")) == "https://h/p"
