"""EditPipeline built directly with its collaborators: a real SQLite database and ledger, an
in-memory store, fake engines; no HTTP. Success charges and stores; any failure after
admission carries the task_id, refunds, and leaves no stored bytes."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from PIL import Image

from imagine import admin
from imagine.accounts import repository as accounts_repo
from imagine.accounts.concurrency import LocalInFlightLimiter
from imagine.catalog import default_catalog
from imagine.clock import FakeClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.db.schema import Account
from imagine.engines.base import EditOptions, EditResult, Engine
from imagine.errors import ContentPolicyViolation, ImagineError, InternalError
from imagine.fetch.images import ImageFetcher
from imagine.fetch.policy import AddressPolicy
from imagine.language import LanguageChecker
from imagine.metrics import Metrics
from imagine.storage.store import MemoryStore
from imagine.tasks import repository as tasks_repo
from imagine.tasks.input_gate import InputGate
from imagine.tasks.pipeline import EditLimits, EditPipeline
from imagine.tasks.schemas import ImagineRequest
from imagine.webhooks.signal import OutboxSignal
from tests.support import image_bytes


class Echo:
    """Returns its input."""

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        return EditResult(image=image, warnings=["echoed"], engine="echo")


class Refuses:
    """Refuses on content grounds."""

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        raise ContentPolicyViolation()


class Crashes:
    """Has a bug."""

    async def edit(self, image: Image.Image, prompt: str, options: EditOptions) -> EditResult:
        raise KeyError("bug")


class Harness:
    def __init__(self, pipeline: EditPipeline, account: Account, store: MemoryStore) -> None:
        self.pipeline, self.account, self.store = pipeline, account, store

    async def balance(self) -> int:
        async with self.pipeline.sessions() as session:
            fresh = await accounts_repo.account_by_id(session, self.account.id)
        assert fresh is not None
        return fresh.credits


@pytest.fixture
async def harness(
    tmp_path: Path, language_checker: LanguageChecker, request: pytest.FixtureRequest
) -> AsyncIterator[Harness]:
    engine: Engine = request.param
    db = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await upgrade(db)
    sessions = session_factory(db)
    clock = FakeClock()
    key = await admin.create_account(
        sessions, clock, email="p@example.com", credits=20, plan="basic"
    )
    async with sessions() as session:
        account = await accounts_repo.account_for_key(session, key)
    assert account is not None
    store = MemoryStore()
    async with httpx.AsyncClient() as http:
        catalog = default_catalog()
        pipeline = EditPipeline(
            sessions=sessions,
            clock=clock,
            store=store,
            catalog=catalog,
            engines={model_id: engine for model_id in catalog},
            fetcher=ImageFetcher(
                http,
                AddressPolicy.from_allow_list([]),
                max_bytes=1 << 20,
                deadline=5,
                max_redirects=0,
            ),
            limiter=LocalInFlightLimiter(),
            language=language_checker,
            decode_slots=anyio.CapacityLimiter(1),
            input_gate=InputGate(4, 5.0),
            metrics=Metrics(),
            outbox=OutboxSignal(),
            limits=EditLimits(
                max_prompt_chars=4000,
                max_data_uri_chars=2 << 20,
                max_image_pixels=50_000_000,
                output_ttl=timedelta(days=14),
                reject_non_english=False,
            ),
            public_url="http://imagine.test",
        )
        yield Harness(pipeline, account, store)
    await db.dispose()


def _body() -> ImagineRequest:
    uri = "data:image/png;base64," + base64.b64encode(image_bytes((64, 48), "PNG")).decode()
    return ImagineRequest(prompt="make it brighter", image_url=uri, model="flux-kontext-pro")


@pytest.mark.parametrize("harness", [Echo()], indirect=True)
async def test_a_finished_edit_is_stored_and_charged(harness: Harness) -> None:
    req = harness.pipeline.validate(_body())
    done = await harness.pipeline.run(harness.account, req)
    assert done.credits_used == 4 and done.warnings == ["echoed"]
    name = done.image_url.rsplit("/", 1)[1]
    assert done.image_url == f"http://imagine.test/files/{name}"
    assert list(harness.store.objects) == [name]
    assert await harness.balance() == 16
    async with harness.pipeline.sessions() as session:
        task = await tasks_repo.get_task(session, done.task_id)
    assert task is not None and (task.status, task.engine) == ("finished", "echo")


@pytest.mark.parametrize(
    ("harness", "status", "kind"),
    [(Refuses(), 422, ContentPolicyViolation), (Crashes(), 500, InternalError)],
    indirect=["harness"],
)
async def test_a_failure_after_admission_names_the_task_and_refunds(
    harness: Harness, status: int, kind: type[ImagineError]
) -> None:
    req = harness.pipeline.validate(_body())
    with pytest.raises(kind) as caught:
        await harness.pipeline.run(harness.account, req)
    error = caught.value
    assert error.status == status and error.task_id is not None
    assert error.body()["task_id"] == error.task_id
    assert harness.store.objects == {}
    assert await harness.balance() == 20
    async with harness.pipeline.sessions() as session:
        task = await tasks_repo.get_task(session, error.task_id)
    assert task is not None and task.status == "failed" and task.charge_state == "released"


@pytest.mark.parametrize("harness", [Echo()], indirect=True)
async def test_an_unserved_model_is_refused_before_admission(harness: Harness) -> None:
    harness.pipeline.engines = {}
    req = harness.pipeline.validate(_body())
    with pytest.raises(ImagineError) as caught:
        await harness.pipeline.run(harness.account, req)
    assert caught.value.status == 503 and caught.value.task_id is None
    assert await harness.balance() == 20
