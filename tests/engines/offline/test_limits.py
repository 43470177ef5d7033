"""Bounded work per instruction: one edit per kind, at most MAX_EDITS, cancellable between edits."""

from __future__ import annotations

import threading
import time

import anyio
import anyio.to_thread
import pytest
from PIL import Image

from imagine.engines.base import EditOptions
from imagine.engines.offline import engine as engine_module
from imagine.engines.offline.engine import OfflineEngine
from imagine.engines.offline.parser import parse
from imagine.engines.offline.render import MAX_EDITS, RenderCancelled, describe, limit_edits, render

# the reproduction: 363 distinct "snow" clauses in under 4,000 characters
MANY_SNOWS = ";".join(f"snow {i / 100:.2f}%" for i in range(1, 364))
ELEVEN_KINDS = (
    "sepia, blur, add snow, add rain, add fog, add a vignette, sharpen, pixelate, hdr, "
    "zoom in, flip it"
)
OPTIONS = EditOptions(model="flux-kontext-pro", aspect_ratio="1:1", width=16, height=16)


def tiny() -> Image.Image:
    return Image.new("RGB", (32, 24), (90, 140, 200))


class Counter:
    """A `cancelled` callable that counts its calls (one per edit applied) and can trip."""

    def __init__(self, trip_after: int | None = None) -> None:
        self.calls = 0
        self.trip_after = trip_after

    def __call__(self) -> bool:
        self.calls += 1
        return self.trip_after is not None and self.calls > self.trip_after


def test_hundreds_of_clauses_of_one_kind_apply_once_with_the_last_parameters() -> None:
    assert len(MANY_SNOWS) <= 4000 and len(parse(MANY_SNOWS).edits) == 363
    kept, notes = limit_edits(parse(MANY_SNOWS).edits)
    assert [e.op for e in kept] == ["snow"]
    assert kept[0].amount == pytest.approx(3.63 / 30)
    assert len(notes) == 1 and '362 earlier "snow"' in notes[0]


def test_render_applies_one_edit_for_hundreds_of_clauses_and_says_so() -> None:
    counter = Counter()
    _, warnings = render(tiny(), MANY_SNOWS, 0, counter)
    assert counter.calls == 1  # polled once per edit applied
    assert any('362 earlier "snow"' in w for w in warnings)


def test_at_most_max_edits_kinds_are_applied_and_the_rest_are_named() -> None:
    parsed = parse(ELEVEN_KINDS).edits
    assert len(parsed) == 11 > MAX_EDITS
    counter = Counter()
    _, warnings = render(tiny(), ELEVEN_KINDS, 0, counter)
    assert counter.calls == MAX_EDITS
    [note] = [w for w in warnings if f"at most {MAX_EDITS} edits" in w]
    for dropped in parsed[MAX_EDITS:]:
        assert describe(dropped) in note


def test_captions_at_different_places_are_different_kinds() -> None:
    parsed = parse("add the text 'A' at the top and add the text 'B' at the bottom").edits
    kept, notes = limit_edits(parsed)
    assert [e.text for e in kept] == ["A", "B"] and notes == []


def test_render_stops_between_edits_once_cancelled() -> None:
    counter = Counter(trip_after=2)
    with pytest.raises(RenderCancelled):
        render(tiny(), ELEVEN_KINDS, 0, counter)
    assert counter.calls == 3  # two edits applied, stopped before the third


async def test_a_set_cancel_flag_stops_the_engine() -> None:
    flag = threading.Event()
    flag.set()
    options = EditOptions(model="m", aspect_ratio="1:1", width=16, height=16, cancel=flag)
    with pytest.raises(RenderCancelled):
        await OfflineEngine().edit(tiny(), "sepia and blur", options)


async def test_cancelling_the_edit_stops_its_render_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started, stopped = threading.Event(), threading.Event()

    def slow_render(
        image: Image.Image, prompt: str, seed: int | None, cancelled: object, vision: object
    ) -> None:
        assert callable(cancelled)
        started.set()
        deadline = time.monotonic() + 10
        while not cancelled() and time.monotonic() < deadline:
            time.sleep(0.005)  # an edit in progress; the next checkpoint comes soon
        if cancelled():
            stopped.set()
        raise RenderCancelled

    monkeypatch.setattr(engine_module, "render_report", slow_render)
    async with anyio.create_task_group() as tg:
        tg.start_soon(OfflineEngine().edit, tiny(), "snow", OPTIONS)
        assert await anyio.to_thread.run_sync(started.wait, 5)
        tg.cancel_scope.cancel()
    assert await anyio.to_thread.run_sync(stopped.wait, 5)
