"""Apply only what was found: implausible subject masks and parts the engine cannot locate
are refused by name (issue 15, item 2), never guessed; what was applied is listed."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from imagine.engines.offline.render import render_report
from imagine.engines.offline.subject import SubjectNotFound, implausibility
from tests.engines.offline.support import Array, ctx_for

Scene = tuple[Array, npt.NDArray[np.bool_]]


def disc(cy: float, cx: float, r: float, shape: tuple[int, int] = (200, 300)) -> np.ndarray:
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return (((ys - cy) ** 2 + (xs - cx) ** 2) <= r**2).astype(np.uint8)


def test_a_centred_solid_subject_is_plausible() -> None:
    assert implausibility(disc(100, 150, 50)) is None


@pytest.mark.parametrize(
    ("mask", "why"),
    [
        (disc(100, 150, 5), "tiny"),
        (np.ones((200, 300), np.uint8), "almost the whole frame"),
        (disc(40, 60, 35), "misses the centre"),  # the tabby's eye, the astronaut's face
        (disc(100, 150, 20) | disc(30, 40, 25) | disc(170, 260, 25), "fragmented"),
    ],
)
def test_implausible_masks_say_why(mask: np.ndarray, why: str) -> None:
    reason = implausibility(mask)
    assert reason is not None and why in reason


def test_an_implausible_subject_raises_instead_of_guessing() -> None:
    flat = np.full((64, 64, 3), 128, np.uint8)  # nothing stands out: no subject to find
    with pytest.raises(SubjectNotFound):
        ctx_for(flat).subject_mask()
    assert not ctx_for(flat).subject_mask_if_found().any()


@pytest.mark.parametrize(
    ("prompt", "part"),
    [
        ("make the cat's fur orange", "fur"),
        ("make the eyes blue", "eyes"),
        ("paint her hat red", "hat"),
        ("change the car's wheels to gold", "wheels"),
    ],
)
def test_parts_without_a_detector_are_named_not_painted(car: Scene, prompt: str, part: str) -> None:
    done = render_report(Image.fromarray(car[0]), prompt, 0)
    assert done.applied == []
    assert any(f'cannot locate "{part}"' in w for w in done.warnings), done.warnings
    assert np.array_equal(np.asarray(done.image), car[0])  # the input, untouched


def test_scenery_is_reported_not_mapped_to_the_subject(car: Scene) -> None:
    done = render_report(Image.fromarray(car[0]), "make the sky purple", 0)
    assert done.applied == [] and any("sky" in w for w in done.warnings)
    assert np.array_equal(np.asarray(done.image), car[0])


def test_applied_lists_what_was_done(car: Scene) -> None:
    done = render_report(
        Image.fromarray(car[0]), "change the car color to matte black and add rain", 0
    )
    assert done.applied == ["recolour car → matte black", "rain"]
    assert done.warnings == []


def test_a_refused_part_does_not_stop_the_rest(car: Scene) -> None:
    done = render_report(Image.fromarray(car[0]), "make the eyes blue and add snow", 0)
    assert done.applied == ["snow"]
    assert any('cannot locate "eyes"' in w for w in done.warnings)
