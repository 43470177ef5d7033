"""Instruction → edited image for the offline engine: parse, then apply families in order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from imagine.engines.offline.families import filters, geometry, subject_edits, text, tone, weather
from imagine.engines.offline.imaging import U8
from imagine.engines.offline.parser import parse
from imagine.engines.offline.rules import Edit, Family, GeometryOp, SubjectOp, TextOp, ToneOp
from imagine.engines.offline.subject import (
    Context,
    NoDetector,
    ObjectNotFound,
    PartNotFound,
    RegionNotFound,
    SubjectNotFound,
)
from imagine.engines.offline.vision.base import Vision

Apply = Callable[[U8, Edit, Context], U8]

# Bounds on the work one instruction can ask for: every edit costs a pass (or several) over
# the whole picture, and a prompt of 4,000 characters holds hundreds of clauses
# ("snow 0.01%; snow 0.02%; …"). Each kind of edit is applied once (the last clause wins)
# and at most MAX_EDITS kinds per image; the rest are named in a warning.
MAX_EDITS = 8


class RenderCancelled(Exception):
    """The caller asked the render to stop; raised between two edits."""


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


def label(edit: Edit) -> str:
    """What an applied edit did, for the response's `applied` ("recolour car → matte black")."""
    colour = edit.colour
    paint = "" if colour is None else f"{'' if colour.finish == 'plain' else colour.finish + ' '}"
    paint += "" if colour is None else colour.name
    if edit.op is SubjectOp.RECOLOUR:
        return f"recolour {edit.target or 'subject'} → {paint}"
    if edit.op is SubjectOp.OBJECT_BLUR:
        return f"blur {edit.target}"
    if edit.op is GeometryOp.CROP_TO:
        return f"crop to {edit.target}"
    if edit.op is SubjectOp.SKY_COLOUR:
        return f"sky → {paint}"
    if edit.op is SubjectOp.BACKGROUND_COLOUR:
        return f"background → {paint}"
    if edit.op is ToneOp.TINT:
        return f"tint → {paint}"
    if edit.op is GeometryOp.ROTATE:
        return f"rotate {edit.angle:g}°"
    if edit.op is GeometryOp.FLIP:
        return "flip vertically" if edit.vertical else "flip horizontally"
    if edit.op is TextOp.TEXT:
        return f'text "{edit.text}" at {edit.position}'
    return describe(edit)


@dataclass(frozen=True)
class Rendered:
    """A render's outcome: the image, the warnings, and what was actually applied (empty:
    the image is the input, unchanged)."""

    image: Image.Image
    warnings: list[str]
    applied: list[str]


def _kind(edit: Edit) -> tuple[str, str]:
    """What "the same edit" means for the caps: the op; for captions, the op and position
    (two captions at one place would overprint each other anyway)."""
    return (edit.op, edit.position if edit.op is TextOp.TEXT else "")


def limit_edits(edits: Sequence[Edit], most: int = MAX_EDITS) -> tuple[list[Edit], list[str]]:
    """Keep one edit per kind (the last clause's parameters, the first clause's place in the
    order) and at most `most` kinds; return the edits to apply and warnings naming the rest."""
    by_kind: dict[tuple[str, str], Edit] = {}
    replaced: dict[str, int] = {}
    for edit in edits:
        kind = _kind(edit)
        if kind in by_kind:
            replaced[describe(edit)] = replaced.get(describe(edit), 0) + 1
        by_kind[kind] = edit  # a dict keeps the first insertion's position
    kept = list(by_kind.values())
    notes: list[str] = []
    if replaced:
        counts = ", ".join(f'{n} earlier "{name}"' for name, n in replaced.items())
        notes.append(
            f"offline engine applies each kind of edit once (the last one given): ignored {counts}"
        )
    if len(kept) > most:
        names = _quote(tuple(describe(e) for e in kept[most:]), most=8)
        notes.append(f"offline engine applies at most {most} edits: ignored {names}")
        kept = kept[:most]
    return kept, notes


def _in_order(edits: list[Edit], family: Family) -> list[Edit]:
    """A family's edits in instruction order, except that cropping to an object comes first
    (its box is found on the input, before anything moves)."""
    mine = [e for e in edits if e.family == family]
    return sorted(mine, key=lambda e: e.op is not GeometryOp.CROP_TO)


def _apply_all(
    rgb: U8,
    edits: list[Edit],
    seed: int,
    cancelled: Callable[[], bool],
    vision: Vision | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[U8, list[str], list[str]]:
    ctx = Context(original=rgb, rng=np.random.default_rng(seed), vision=vision)
    canvas: U8 = rgb
    notes: list[str] = []
    applied: list[str] = []
    done = 0
    for spec in FAMILIES:
        family, fn = spec.family, spec.apply
        for edit in _in_order(edits, family):
            if cancelled():
                raise RenderCancelled
            if progress is not None:
                progress(done / len(edits))  # the edits before this one are done
            done += 1
            try:
                if family in _WHOLE_CANVAS or canvas.shape[2] == 3:
                    out = fn(canvas, edit, ctx)
                else:  # keep the alpha of a removed background through colour edits
                    out = np.concatenate([fn(canvas[..., :3], edit, ctx), canvas[..., 3:]], axis=2)
            except PartNotFound as missing:
                notes.append(
                    f'offline engine cannot locate "{missing.part}" (it has no detector for '
                    f'parts of a subject): "{label(edit)}" not applied'
                )
                continue
            except ObjectNotFound as missing:
                notes.append(
                    f'offline engine found no "{missing.word}" in the picture: '
                    f'"{label(edit)}" not applied'
                )
                continue
            except NoDetector as missing:
                notes.append(
                    f'offline engine cannot find "{missing.word}" (no object detector: the'
                    f' `vision` extra is not installed): "{label(edit)}" not applied'
                )
                continue
            except RegionNotFound as why:
                notes.append(
                    f"offline engine cannot find the sky with confidence ({why}): "
                    f'"{label(edit)}" not applied'
                )
                continue
            except SubjectNotFound as why:
                notes.append(
                    f'offline engine did not apply "{label(edit)}": it could not tell the '
                    f"subject from the background ({why})"
                )
                continue
            except Exception as exc:  # an edit bug must not fail the task; say what was skipped
                name = type(exc).__name__
                notes.append(f"offline engine could not apply {describe(edit)} ({name})")
                continue
            if edit.op in _BACKDROPS and canvas.shape[2] == 4:
                out = out[..., :3]  # a new backdrop replaces an earlier transparent one
            canvas = np.ascontiguousarray(out)
            applied.append(label(edit))
    notes.extend(dict.fromkeys(ctx.notes))  # once each, in order
    return canvas, notes, applied


def _quote(phrases: tuple[str, ...], most: int = 5, width: int = 80) -> str:
    """Quote the phrases not understood, short enough for a response field."""
    shown = [p if len(p) <= width else p[: width - 1] + "…" for p in phrases[:most]]
    more = f" and {len(phrases) - most} more" if len(phrases) > most else ""
    return "; ".join(f'"{p}"' for p in shown) + more


def _never() -> bool:
    return False


def render(
    image: Image.Image,
    instruction: str,
    seed: int | None,
    cancelled: Callable[[], bool] = _never,
    vision: Vision | None = None,
) -> tuple[Image.Image, list[str]]:
    """Apply the edits recognised in the instruction (within the caps); warn about the rest.

    `cancelled` is polled before each edit; once it answers True the render stops there and
    raises RenderCancelled (an edit already under way finishes first).
    """
    done = render_report(image, instruction, seed, cancelled, vision)
    return done.image, done.warnings


def render_report(
    image: Image.Image,
    instruction: str,
    seed: int | None,
    cancelled: Callable[[], bool] = _never,
    vision: Vision | None = None,
    progress: Callable[[float], None] | None = None,
) -> Rendered:
    """`render`, also saying which edits were applied; with none, the input comes back.
    `vision`: the detection and segmentation models (None: GrabCut finds the subject).
    `progress`, when given, hears the fraction of the edits done before each one."""
    parsed = parse(instruction if isinstance(instruction, str) else "")
    edits, capped = limit_edits(parsed.edits)
    if edits:
        rgb = np.array(image.convert("RGB"), dtype=np.uint8)
        # numpy wants a non-negative seed; fold any int (negative, huge) into 64 bits
        canvas, warnings, applied = _apply_all(
            rgb, edits, (seed or 0) % 2**64, cancelled, vision=vision, progress=progress
        )
    else:  # nothing to do: no pixel copies
        warnings, applied = [], []
    if progress is not None:
        progress(1.0)
    warnings[:0] = capped
    if parsed.unrecognised:
        quoted = _quote(parsed.unrecognised)
        suffix = " (image returned unchanged)" if not parsed.edits else ""
        warnings.insert(0, f"offline engine did not understand: {quoted}{suffix}")
    elif not parsed.edits:
        warnings.append("offline engine found no edit to apply (image returned unchanged)")
    if parsed.edits and not applied:
        warnings.append("offline engine applied none of the edits (image returned unchanged)")
    if not applied:  # the input as it came, whatever the families did
        return Rendered(image if image.mode == "RGB" else image.convert("RGB"), warnings, [])
    return Rendered(Image.fromarray(canvas), warnings, applied)
