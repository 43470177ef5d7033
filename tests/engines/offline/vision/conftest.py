"""Fixtures of the vision tests: the bundled models, loaded once per session."""

from tests.engines.offline.vision.fixtures import bundled_safety, bundled_vision

__all__ = ["bundled_safety", "bundled_vision"]
