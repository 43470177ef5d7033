"""Text: draw a caption in Pillow's bundled scalable font at a named position."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from imagine.engines.offline.families import Handler
from imagine.engines.offline.imaging import U8
from imagine.engines.offline.rules import Edit, TextOp
from imagine.engines.offline.subject import Context

MAX_CHARS = 80  # a caption, not a paragraph; longer text would shrink to illegible
_MARGIN = 0.06

# position → (x fraction, y fraction, Pillow anchor)
_PLACES: dict[str, tuple[float, float, str]] = {
    "top": (0.5, _MARGIN, "mt"),
    "bottom": (0.5, 1 - _MARGIN, "mb"),
    "centre": (0.5, 0.5, "mm"),
    "left": (_MARGIN, 0.5, "lm"),
    "right": (1 - _MARGIN, 0.5, "rm"),
    "top left": (_MARGIN, _MARGIN, "lt"),
    "top right": (1 - _MARGIN, _MARGIN, "rt"),
    "bottom left": (_MARGIN, 1 - _MARGIN, "lb"),
    "bottom right": (1 - _MARGIN, 1 - _MARGIN, "rb"),
}


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, stroke: int, width: float
) -> list[str]:
    """Greedy word wrap to the given pixel width."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        left, _, right, _ = draw.textbbox((0, 0), candidate, font=font, stroke_width=stroke)
        if lines and right - left <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def _layout(
    draw: ImageDraw.ImageDraw, text: str, width: int, height: int
) -> tuple[ImageFont.FreeTypeFont, str, int]:
    """Largest font (from an eighth of the height down) whose wrapped text fits the frame."""
    size = max(8, height // 8)
    while True:
        font = ImageFont.load_default(size=size)
        assert isinstance(font, ImageFont.FreeTypeFont)  # Pillow's wheels ship FreeType
        stroke = max(1, size // 14)
        block = "\n".join(_wrap(draw, text, font, stroke, width * (1 - 2 * _MARGIN)))
        left, top, right, bottom = draw.multiline_textbbox(
            (0, 0), block, font=font, stroke_width=stroke
        )
        fits = right - left <= width * (1 - 2 * _MARGIN) and bottom - top <= 0.45 * height
        if fits or size <= 6:
            return font, block, stroke
        size = max(6, int(size * 0.85))


def _caption(img: U8, edit: Edit, ctx: Context) -> U8:
    """Draw edit.text (RGB or RGBA array); white with a dark outline unless a colour is named."""
    del ctx
    text = " ".join(edit.text.split())[:MAX_CHARS]
    if not text:
        return img
    canvas = Image.fromarray(img)  # RGB or RGBA from the channel count
    draw = ImageDraw.Draw(canvas)
    h, w = img.shape[:2]
    font, block, stroke_width = _layout(draw, text, w, h)
    fill = edit.colour.rgb if edit.colour is not None else (255, 255, 255)
    # outline in the opposite lightness so the words read on any photo
    light = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] > 110
    stroke = (0, 0, 0) if light else (255, 255, 255)
    fx, fy, anchor = _PLACES.get(edit.position, _PLACES["centre"])
    # place the block's bounding box by hand: multiline anchors are limited in Pillow
    left, top, right, bottom = draw.multiline_textbbox(
        (0, 0), block, font=font, align="center", stroke_width=stroke_width
    )
    bw, bh = right - left, bottom - top
    x = fx * w - {"l": 0.0, "m": bw / 2, "r": bw}[anchor[0]] - left
    y = fy * h - {"t": 0.0, "m": bh / 2, "b": bh}[anchor[1]] - top
    draw.multiline_text(
        (x, y),
        block,
        font=font,
        align="center",
        fill=(*fill, 255),
        stroke_width=stroke_width,
        stroke_fill=(*stroke, 255),
    )
    return np.asarray(canvas, np.uint8).copy()


HANDLERS: Mapping[TextOp, Handler] = MappingProxyType({TextOp.TEXT: _caption})


def apply(img: U8, edit: Edit, ctx: Context) -> U8:
    """Apply one text edit (the only op is a caption)."""
    return HANDLERS[TextOp(edit.op)](img, edit, ctx)
