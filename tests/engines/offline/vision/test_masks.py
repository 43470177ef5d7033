"""Object and subject masks through the vision interfaces, with fakes (no model files)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from imagine.engines.offline.render import render_report
from imagine.engines.offline.subject import NoDetector, ObjectNotFound
from imagine.engines.offline.vision.base import Detection, Vision
from imagine.engines.offline.vision.fakes import FakeDetector, FakeSegmenter
from tests.engines.offline.support import ctx_for


def two_discs() -> np.ndarray:
    """A grey backdrop with a bright disc left (the "cat") and one right (the "dog")."""
    rgb = np.full((120, 200, 3), 60, np.uint8)
    ys, xs = np.ogrid[:120, :200]
    rgb[((ys - 60) ** 2 + (xs - 50) ** 2) <= 30**2] = (230, 200, 150)
    rgb[((ys - 60) ** 2 + (xs - 150) ** 2) <= 30**2] = (150, 200, 230)
    return rgb


def vision(*found: Detection) -> Vision:
    return Vision(FakeDetector(found), FakeSegmenter())


CAT = Detection("cat", 0.9, (15, 25, 85, 95))
DOG = Detection("dog", 0.8, (115, 25, 185, 95))


def test_the_named_object_is_segmented_inside_its_box_only() -> None:
    rgb = two_discs()
    mask = ctx_for(rgb, vision=vision(CAT, DOG)).object_mask("the kitten")
    assert mask[60, 50] > 0.9  # the cat's centre
    assert mask[60, 150] < 0.05  # the dog is bright too, but outside the cat's box


def test_synonyms_reach_the_class() -> None:
    ctx = ctx_for(two_discs(), vision=vision(DOG))
    assert ctx.object_mask("puppy")[60, 150] > 0.9


def test_a_missing_object_raises_with_its_word() -> None:
    with pytest.raises(ObjectNotFound) as caught:
        ctx_for(two_discs(), vision=vision(CAT)).object_mask("the red car")
    assert caught.value.word == "car"


def test_without_a_detector_object_edits_say_so() -> None:
    with pytest.raises(NoDetector):
        ctx_for(two_discs()).objects("person")
    done = render_report(Image.fromarray(two_discs()), "blur the faces", 0)
    assert done.applied == [] and any("no object detector" in w for w in done.warnings)


def test_the_background_is_outside_every_subject() -> None:
    rgb = two_discs()
    subject = ctx_for(rgb, vision=vision(CAT, DOG)).subject_mask()
    assert subject[60, 50] > 0.9 and subject[60, 150] > 0.9
    assert subject[5, 100] < 0.05 and subject[110, 5] < 0.05


def test_furniture_is_not_the_subject() -> None:
    # the fake segmenter finds nothing salient in the whole picture; a confident "dining
    # table" covering the frame must not make the frame the subject
    dark = np.full((100, 100, 3), 40, np.uint8)
    table = Detection("dining table", 0.95, (0, 0, 100, 100))
    lamp = np.ones((100, 100, 3), np.uint8) * 40
    lamp[30:70, 30:70] = 240
    ctx = ctx_for(lamp, vision=vision(table))
    assert ctx.subject_mask()[5, 5] < 0.05
    with pytest.raises(Exception, match="no subject"):
        ctx_for(dark, vision=vision(table)).subject_mask()


def test_a_word_the_detector_does_not_know_edits_the_main_subject_and_says_so() -> None:
    rgb = two_discs()
    fake = vision(CAT)
    done = render_report(Image.fromarray(rgb), "make the flower blue", 0, vision=fake)
    assert done.applied == ["recolour flower → blue"]
    assert any('no detector for "flower"' in w for w in done.warnings)


def test_masks_are_computed_once_per_render() -> None:
    rgb = two_discs()
    detector, segmenter = FakeDetector([CAT]), FakeSegmenter()
    ctx = ctx_for(rgb, vision=Vision(detector, segmenter))
    ctx.object_mask("cat")
    ctx.object_mask("cat")
    ctx.subject_mask()
    assert detector.calls == 1
    assert segmenter.calls == 2  # the cat's box, and the whole picture for the subject


def test_without_detections_the_salient_object_is_the_subject() -> None:
    rgb = two_discs()
    segmenter = FakeSegmenter()
    subject = ctx_for(rgb, vision=Vision(FakeDetector([]), segmenter)).subject_mask()
    assert subject[60, 50] > 0.9 and subject[60, 150] > 0.9 and subject[5, 100] < 0.05
    assert segmenter.calls == 1
