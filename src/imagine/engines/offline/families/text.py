"""Text: draw a caption in Pillow's bundled scalable font at a named position."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from imagine.engines.offline.imaging import U8
from imagine.engines.offline.rules import Edit
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


def _font(draw: ImageDraw.ImageDraw, text: str, width: int, height: int) -> ImageFont.FreeTypeFont:
    # start big (an eighth of the height) and shrink until the line fits the frame
    size = max(8, height // 8)
    while True:
        font = ImageFont.load_default(size=size)
        assert isinstance(font, ImageFont.FreeTypeFont)  # Pillow ships FreeType wheels
        left, _, right, _ = draw.textbbox((0, 0), text, font=font, stroke_width=size // 14)
        if right - left <= width * (1 - 2 * _MARGIN) or size <= 8:
            return font
        size = max(8, int(size * 0.85))


def apply(img: U8, edit: Edit, ctx: Context) -> U8:
    """Draw edit.text (RGB or RGBA array); white with a dark outline unless a colour is named."""
    del ctx
    text = " ".join(edit.text.split())[:MAX_CHARS]
    if not text:
        return img
    canvas = Image.fromarray(img)  # RGB or RGBA from the channel count
    draw = ImageDraw.Draw(canvas)
    h, w = img.shape[:2]
    font = _font(draw, text, w, h)
    fill = edit.colour.rgb if edit.colour is not None else (255, 255, 255)
    # outline in the opposite lightness so the words read on any photo
    light = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] > 110
    stroke = (0, 0, 0) if light else (255, 255, 255)
    fx, fy, anchor = _PLACES.get(edit.position, _PLACES["centre"])
    size = int(font.size)
    draw.text((fx * w, fy * h), text, font=font, anchor=anchor,
              fill=(*fill, 255), stroke_width=max(1, size // 14), stroke_fill=(*stroke, 255))
    return np.asarray(canvas, np.uint8).copy()
