"""Fixtures for the local-GPU tests: one tiny Kontext pipeline per session, SQLite only
(the model work dominates; the database paths are covered elsewhere)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from tests.gpu.tiny_kontext import save_tiny_kontext


@pytest.fixture(autouse=True)
def _quiet_library_deprecations() -> Iterator[None]:
    # transformers/diffusers emit their own deprecation and "torchvision missing" notices at
    # import and load time; they are not ours to fix, and warnings are errors here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        yield


@pytest.fixture(scope="session")
def tiny_kontext(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny FLUX.1 Kontext pipeline saved in diffusers format."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return save_tiny_kontext(tmp_path_factory.mktemp("tiny-kontext"))


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only for these model-bound tests."""
    return f"sqlite+aiosqlite:///{tmp_path / 'gpu.db'}"
