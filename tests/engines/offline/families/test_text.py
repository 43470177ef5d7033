"""Text lands in the named band, in the named colour, with Pillow's bundled font."""

from __future__ import annotations

import numpy as np
import pytest

from imagine.engines.offline.colours import Colour
from imagine.engines.offline.families import text
from tests.engines.offline.support import Array, ctx_for, edit


def red_rows(out: Array) -> np.ndarray:
    x = out.astype(int)
    red = (x[..., 0] > 200) & (x[..., 1] < 60) & (x[..., 2] < 60)
    return np.nonzero(red.any(axis=1))[0]


@pytest.mark.parametrize(
    ("position", "band"), [("top", (0.0, 0.3)), ("bottom", (0.7, 1.0)), ("centre", (0.3, 0.7))]
)
def test_text_colour_appears_in_the_named_band(position: str, band: tuple[float, float]) -> None:
    grey = np.full((240, 320, 3), 90, np.uint8)
    out = text.apply(
        grey,
        edit("text", "text", text="SALE", position=position, colour=Colour("red", (255, 0, 0))),
        ctx_for(grey),
    )
    rows = red_rows(out)
    assert rows.size > 5
    assert band[0] * 240 <= rows.min() and rows.max() <= band[1] * 240


def test_default_text_is_white_with_dark_outline() -> None:
    grey = np.full((200, 300, 3), 128, np.uint8)
    out = text.apply(grey, edit("text", "text", text="Hello"), ctx_for(grey))
    assert (out.min(axis=2) > 240).sum() > 50
    assert (out.max(axis=2) < 30).sum() > 20


def test_long_text_is_shrunk_to_fit() -> None:
    grey = np.full((100, 200, 3), 128, np.uint8)
    out = text.apply(grey, edit("text", "text", text="A very long caption " * 3), ctx_for(grey))
    changed = np.nonzero((out != grey).any(axis=2).any(axis=0))[0]
    assert changed.min() > 0 and changed.max() < 199


def test_text_on_transparent_canvas_is_opaque() -> None:
    clear = np.zeros((120, 200, 4), np.uint8)
    out = text.apply(clear, edit("text", "text", text="HI"), ctx_for(clear[..., :3]))
    assert out.shape == clear.shape
    assert out[..., 3].max() == 255
