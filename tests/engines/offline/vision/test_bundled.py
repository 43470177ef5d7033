"""Effect checks of the bundled vision models on real photos (scikit-image's samples: the
tabby `chelsea`, `coffee`, `stereo_motorcycle`, `astronaut`), at their native sizes.

Thresholds (8-bit levels):
- "blue": blue beats red and green by 40+ levels. The tabby has none of it (< 0.01 %).
- "barely changes": mean absolute difference < 3 where the object mask is ~0 (the edit
  blends through the soft mask edge, so a few levels leak a pixel or two past it).
- high-frequency energy: the mean squared Laplacian; a background blur leaves < 20 % of it
  outside the object, and the object's core keeps > 85 % of its own.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from imagine.engines.offline.render import render_report
from imagine.engines.offline.vision.base import SafetyClassifier, Vision
from imagine.engines.offline.vision.masks import SceneMasks
from tests.engines.offline.support import Array, hf_energy

skdata = pytest.importorskip("skimage.data")


def blue_share(rgb: npt.NDArray[np.integer]) -> float:
    r, g, b = (rgb[..., c].astype(int) for c in range(3))
    return float(((b > r + 40) & (b > g + 40)).mean())


def mask_of(vision: Vision, rgb: Array, label: str) -> npt.NDArray[np.float32]:
    scene = SceneMasks(vision, rgb)
    found = scene.of([label])
    assert found, f"no {label} detected"
    return scene.union(found)


def test_the_detector_finds_the_named_objects(bundled_vision: Vision) -> None:
    for photo, label in [
        (skdata.chelsea(), "cat"),
        (skdata.coffee(), "cup"),
        (skdata.stereo_motorcycle()[0], "motorcycle"),
        (skdata.astronaut(), "person"),
    ]:
        best = bundled_vision.detector.detect(photo)[0]
        assert best.label == label and best.score > 0.7, best


def test_make_the_cat_blue_paints_the_cat_not_the_background(bundled_vision: Vision) -> None:
    cat = skdata.chelsea()
    done = render_report(Image.fromarray(cat), "make the cat blue", 0, vision=bundled_vision)
    assert done.applied == ["recolour cat → blue"] and done.warnings == []
    out = np.asarray(done.image)
    mask = mask_of(bundled_vision, cat, "cat")
    assert blue_share(cat[mask > 0.5]) < 0.001
    assert blue_share(out[mask > 0.5]) > 0.8  # the cat's pixels moved to blue
    outside = mask < 0.05
    assert outside.mean() > 0.1  # there is a background to leave alone …
    assert np.abs(out.astype(int) - cat)[outside].mean() < 3.0  # … and it barely changed


def test_remove_the_background_keeps_the_cup(bundled_vision: Vision) -> None:
    coffee = skdata.coffee()  # 400×600, the cup in the upper middle
    done = render_report(Image.fromarray(coffee), "remove the background", 0, vision=bundled_vision)
    alpha = np.asarray(done.image)[..., 3]
    assert done.applied == ["remove background"]
    assert (alpha[60:200, 230:360] >= 128).mean() > 0.95  # the cup's centre: opaque
    for corner in [(slice(0, 40), slice(0, 40)), (slice(-40, None), slice(-40, None))]:
        assert (alpha[corner] < 128).mean() > 0.95, corner  # the table's corners: clear
    assert (alpha[-40:, :40] < 128).mean() > 0.95 and (alpha[:40, -40:] < 128).mean() > 0.95


def test_blur_the_background_spares_the_motorcycle(bundled_vision: Vision) -> None:
    bike = skdata.stereo_motorcycle()[0]
    done = render_report(Image.fromarray(bike), "blur the background", 0, vision=bundled_vision)
    assert done.applied == ["background blur"]
    out = np.asarray(done.image)
    mask = mask_of(bundled_vision, bike, "motorcycle")
    outside = mask < 0.05
    core = cv2.erode((mask > 0.5).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert outside.mean() > 0.2 and core.mean() > 0.1
    assert hf_energy(out, outside) < 0.2 * hf_energy(bike, outside)
    assert hf_energy(out, core) > 0.85 * hf_energy(bike, core)


def test_an_object_not_in_the_picture_is_named_and_nothing_changes(
    bundled_vision: Vision,
) -> None:
    cat = skdata.chelsea()
    done = render_report(Image.fromarray(cat), "make the car red", 0, vision=bundled_vision)
    assert done.applied == []
    assert any('found no "car"' in w for w in done.warnings), done.warnings
    assert np.array_equal(np.asarray(done.image), cat)


def test_blur_the_person_hides_the_face(bundled_vision: Vision) -> None:
    astronaut = skdata.astronaut()  # 512×512, her face around rows 40–170, columns 150–260
    done = render_report(Image.fromarray(astronaut), "blur the face", 0, vision=bundled_vision)
    assert done.applied == ["blur face"]
    assert done.warnings == ["offline engine has no face detector: blurred the whole person"]
    face = np.zeros(astronaut.shape[:2], bool)
    face[40:170, 150:260] = True
    assert hf_energy(np.asarray(done.image), face) < 0.1 * hf_energy(astronaut, face)


def test_crop_to_the_cat_keeps_the_size_and_the_cat(bundled_vision: Vision) -> None:
    cat = skdata.chelsea()
    done = render_report(Image.fromarray(cat), "crop to the cat", 0, vision=bundled_vision)
    assert done.applied == ["crop to cat"]
    assert np.asarray(done.image).shape == cat.shape


def test_safe_photos_score_low(bundled_safety: SafetyClassifier) -> None:
    for photo in (skdata.chelsea(), skdata.coffee(), skdata.astronaut()):
        assert 0.0 <= bundled_safety.score(photo) < 0.2


def test_the_sky_is_repainted_where_it_is_clear(bundled_vision: Vision) -> None:
    rocket = skdata.rocket()  # 427×640: a dusk-blue sky behind a rocket and its towers
    done = render_report(Image.fromarray(rocket), "make the sky purple", 0, vision=bundled_vision)
    assert done.applied == ["sky → purple"]
    out = np.asarray(done.image).astype(int)
    sky = out[30:200, 150:260]  # open sky left of the rocket
    assert ((sky[..., 0] > sky[..., 1] + 30) & (sky[..., 2] > sky[..., 1] + 30)).mean() > 0.9
    body = (slice(120, 330), slice(310, 330))  # the rocket's white body stays itself
    assert np.abs(out[body] - rocket[body]).mean() < 12


def test_no_sky_no_edit(bundled_vision: Vision) -> None:
    cat = skdata.chelsea()
    done = render_report(Image.fromarray(cat), "make the sky purple", 0, vision=bundled_vision)
    assert done.applied == [] and np.array_equal(np.asarray(done.image), cat)
    assert any("cannot find the sky" in w for w in done.warnings)
