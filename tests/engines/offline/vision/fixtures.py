"""The bundled vision models as fixtures, loaded once per test process whichever module
asks (skipped cleanly without the `vision` extra, except under CI=true, where .ci/run
installs it and a skip would hide a broken install). Import the fixtures to use them."""

from __future__ import annotations

import functools
import os

import pytest

from imagine.engines.offline.vision.base import SafetyClassifier, Vision
from imagine.engines.offline.vision.bundled import load_safety, load_vision

_vision = functools.cache(lambda: load_vision(None))
_safety = functools.cache(lambda: load_safety(None))


def _require(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is missing under CI: the `vision` extra must be installed")
    pytest.skip(f"{what} not installed (the `vision` extra)")


@pytest.fixture(scope="session")
def bundled_vision() -> Vision:
    """The bundled detector and segmenter (models load on first use, then stay loaded)."""
    vision = _vision()
    if vision is None:
        _require("the bundled detector/segmenter")
    assert vision is not None
    return vision


@pytest.fixture(scope="session")
def bundled_safety() -> SafetyClassifier:
    """The bundled NSFW classifier."""
    found = _safety()
    if found is None:
        _require("the bundled NSFW classifier")
    assert found is not None
    return found[0]
