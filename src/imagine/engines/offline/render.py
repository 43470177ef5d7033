"""Instruction → edited image for the offline engine: parse, then apply families in order."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
from PIL import Image

from imagine.engines.offline.families import filters, geometry, subject_edits, text, tone, weather
from imagine.engines.offline.imaging import U8
from imagine.engines.offline.parser import parse
from imagine.engines.offline.rules import Edit, Family, SubjectOp
from imagine.engines.offline.subject import Context

Apply = Callable[[U8, Edit, Context], U8]


@dataclass(frozen=True)
class FamilySpec:
    """One edit family: its name, its entry point and the ops its handler table covers."""

    family: Family
    apply: Apply
    ops: Collection[str]


# Fixed family order: subject edits see the untouched photo; weather sits on top of the
# tone; geometry moves everything (weather included); text is drawn last so it stays upright.
FAMILIES: tuple[FamilySpec, ...] = (
    FamilySpec("subject", subject_edits.apply, subject_edits.HANDLERS.keys()),
    FamilySpec("tone", tone.apply, tone.HANDLERS.keys()),
    FamilySpec("filters", filters.apply, filters.HANDLERS.keys()),
    FamilySpec("weather", weather.apply, weather.HANDLERS.keys()),
    FamilySpec("geometry", geometry.apply, geometry.HANDLERS.keys()),
    FamilySpec("text", text.apply, text.HANDLERS.keys()),
)
_WHOLE_CANVAS: frozenset[Family] = frozenset({"geometry", "text"})  # these also move/draw alpha
# a new backdrop replaces an earlier transparent one
_BACKDROPS: frozenset[str] = frozenset(
    {SubjectOp.BACKGROUND_BLUR, SubjectOp.BACKGROUND_COLOUR, SubjectOp.BACKGROUND_GRAY}
)


def describe(edit: Edit) -> str:
    """Short human name of an edit, for warnings."""
    return edit.op.replace("_", " ")


def _apply_all(rgb: U8, edits: list[Edit], seed: int) -> tuple[U8, list[str]]:
    ctx = Context(original=rgb, rng=np.random.default_rng(seed))
    canvas: U8 = rgb
    notes: list[str] = []
    for spec in FAMILIES:
        family, fn = spec.family, spec.apply
        for edit in (e for e in edits if e.family == family):
            try:
                if family in _WHOLE_CANVAS or canvas.shape[2] == 3:
                    out = fn(canvas, edit, ctx)
                else:  # keep the alpha of a removed background through colour edits
                    out = np.concatenate([fn(canvas[..., :3], edit, ctx), canvas[..., 3:]], axis=2)
            except Exception as exc:  # an edit bug must not fail the task; say what was skipped
                name = type(exc).__name__
                notes.append(f"offline engine could not apply {describe(edit)} ({name})")
                continue
            if edit.op in _BACKDROPS and canvas.shape[2] == 4:
                out = out[..., :3]  # a new backdrop replaces an earlier transparent one
            canvas = np.ascontiguousarray(out)
    return canvas, notes


def _quote(phrases: tuple[str, ...], most: int = 5, width: int = 80) -> str:
    """Quote the phrases not understood, short enough for a response field."""
    shown = [p if len(p) <= width else p[: width - 1] + "…" for p in phrases[:most]]
    more = f" and {len(phrases) - most} more" if len(phrases) > most else ""
    return "; ".join(f'"{p}"' for p in shown) + more


def render(image: Image.Image, instruction: str, seed: int | None) -> tuple[Image.Image, list[str]]:
    """Apply every edit recognised in the instruction; warn about the words left over."""
    parsed = parse(instruction if isinstance(instruction, str) else "")
    rgb = np.array(image.convert("RGB"), dtype=np.uint8)
    # numpy wants a non-negative seed; fold any int (negative, huge) into 64 bits
    canvas, warnings = _apply_all(rgb, list(parsed.edits), (seed or 0) % 2**64)
    if parsed.unrecognised:
        quoted = _quote(parsed.unrecognised)
        suffix = " (image returned unchanged)" if not parsed.edits else ""
        warnings.insert(0, f"offline engine did not understand: {quoted}{suffix}")
    elif not parsed.edits:
        warnings.append("offline engine found no edit to apply (image returned unchanged)")
    return Image.fromarray(canvas), warnings
