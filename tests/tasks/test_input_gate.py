"""IMAGINE_MAX_INPUTS_IN_FLIGHT: hosted edits hold an input only while it is on its way to
the provider; beyond the bound they wait before fetching, and an accepted task (polling)
holds no turn."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from imagine.errors import ServiceBusy
from imagine.tasks.input_gate import InputGate
from tests.conftest import Api
from tests.engines.fake_bfl import bfl_app
from tests.engines.fakes import SECRET, FakeServer
from tests.support import ImageHost, image_bytes


@pytest.fixture(scope="module")
def fake_bfl() -> Iterator[FakeServer]:
    with FakeServer(bfl_app, cap=6) as running:
        yield running


@pytest.fixture
def settings_overrides(fake_bfl: FakeServer) -> dict[str, Any]:
    fake_bfl.reset()
    return {
        "bfl_api_key": SECRET,
        "bfl_base_url": fake_bfl.base_url,
        "allow_offline_fallback": False,
        "max_inputs_in_flight": 1,
    }


async def test_a_second_edit_fetches_only_once_the_first_input_was_accepted(
    api: Api, image_host: ImageHost, fake_bfl: FakeServer
) -> None:
    fake_bfl.state.submit_hold = 1.0  # the provider takes a second to accept an upload
    fake_bfl.state.pending_polls = 2  # then works a while: both tasks run at once
    key = await api.account(credits=100)
    urls = [image_host.add(f"/in{i}.jpg", image_bytes()) for i in range(2)]
    edits = [
        asyncio.create_task(api.imagine(key, prompt="make it red", image_url=url)) for url in urls
    ]
    for _ in range(500):  # until the first input was fetched
        if image_host.hits:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.6)  # the first upload is still being accepted
    assert len(image_host.hits) == 1, image_host.hits
    assert fake_bfl.state.submits == 0
    results = await asyncio.gather(*edits)
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert sorted(image_host.hits) == ["/in0.jpg", "/in1.jpg"]
    # Accepted tasks poll without a turn: both were running at the provider together.
    assert fake_bfl.state.peak == 2


async def test_a_turn_is_given_back_early_or_at_the_end_and_a_long_wait_is_busy() -> None:
    gate = InputGate(1, wait=0.2)
    async with gate.turn() as accepted:
        accepted()  # the provider has the input: the next edit may fetch
        async with gate.turn():
            pass
        accepted()  # idempotent
    async with gate.turn():  # the first block ended: its turn was not given back twice
        with pytest.raises(ServiceBusy):
            async with gate.turn():
                pass
    async with gate.turn():  # a failed edit's turn came back at the end of its block
        pass
