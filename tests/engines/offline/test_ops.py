"""Typed ops: every op the parser can produce has a handler in its family's table."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from imagine.engines.offline import rules
from imagine.engines.offline.colours import Colour
from imagine.engines.offline.families import filters
from imagine.engines.offline.render import FAMILIES
from imagine.engines.offline.rules import OPS, Edit, Family, ToneOp
from imagine.engines.offline.vision.base import Detection, Vision
from imagine.engines.offline.vision.fakes import FakeDetector, FakeSegmenter
from tests.engines.offline.support import ctx_for

HANDLED = {spec.family: spec.ops for spec in FAMILIES}


def test_every_family_is_rendered_once() -> None:
    assert sorted(HANDLED) == sorted(get_args(Family))
    assert len(FAMILIES) == len(HANDLED)


@pytest.mark.parametrize("rule", rules.RULES, ids=lambda r: f"{r.family}.{r.op}")
def test_every_rule_op_has_a_handler(rule: rules.Rule) -> None:
    assert isinstance(rule.op, OPS[rule.family])
    assert rule.op in HANDLED[rule.family]


def test_every_op_of_the_op_table_has_a_handler() -> None:
    # ops produced outside the rule table (tint from "make it red", background_colour from
    # "remove the background and make it white") are members of the same enums
    for family, op_type in OPS.items():
        for op in op_type:
            assert op in HANDLED[family], f"{family}.{op} has no handler"


def test_every_handler_runs_on_a_tiny_picture() -> None:
    rgb = np.full((24, 32, 3), 120, np.uint8)
    rgb[6:18, 8:24] = (200, 40, 30)
    rgb[:5] = (90, 140, 220)  # a strip of sky for "make the sky …"
    red = Colour("red", (220, 30, 30))
    # object edits ("blur the person", "crop to the person") need a detector: a fake one
    colourful = FakeSegmenter(lambda img: (img[..., 0] > img[..., 2].astype(int) + 50) * 1.0)
    vision = Vision(FakeDetector([Detection("person", 0.9, (8, 6, 24, 18))]), colourful)
    for spec in FAMILIES:
        for op in OPS[spec.family]:
            edit = Edit(spec.family, op, colour=red, text="Hi", target="person")
            out = spec.apply(rgb, edit, ctx_for(rgb, vision=vision))
            assert out.shape[:2] in ((24, 32), (32, 24)), f"{spec.family}.{op}"


def test_an_op_without_a_handler_fails_instead_of_returning_the_image() -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError):
        filters.apply(rgb, Edit("filters", ToneOp.SEPIA), ctx_for(rgb))
