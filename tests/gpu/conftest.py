"""Fixtures for the local-GPU tests: one tiny Kontext pipeline per session, SQLite only
(the model work dominates; the database paths are covered elsewhere)."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from tests.gpu.tiny_kontext import save_tiny_kontext
from tests.gpu.worker_process import SLOW_STEPS, Worker, start_worker, stop


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


@pytest.fixture(scope="session", autouse=True)
def gpu_worker_pool(
    tiny_kontext: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, Worker]]:
    """Every `imagine gpu serve` process the selected tests use, all started before the first
    gpu test so that their start-ups (torch imports, Ray: half a minute) overlap each other
    and the in-process tests; stopped at the end.

    "ray": on Ray Serve (num_gpus=0, one CPU, its temp dir under the test's);
    "quick": --no-ray, 2 steps; "slow": --no-ray, SLOW_STEPS steps."""
    modules = {item.path.stem for item in request.session.items}
    temp = tmp_path_factory.mktemp("workers")
    specs: dict[str, tuple[bool, dict[str, str]]] = {}
    if "test_ray_serve" in modules and importlib.util.find_spec("ray") is not None:
        # A short path: Ray's socket paths live below it (Unix sockets cap near 107 bytes).
        ray_temp = tmp_path_factory.mktemp("ray")
        specs["ray"] = (
            True,
            {
                "IMAGINE_GPU_NUM_GPUS": "0",
                "IMAGINE_RAY_NUM_CPUS": "1",
                "IMAGINE_RAY_TEMP_DIR": str(ray_temp),
                "IMAGINE_GPU_MAX_ONGOING_REQUESTS": "2",
            },
        )
    if "test_remote" in modules:
        specs["quick"] = (False, {})
        specs["slow"] = (False, {"IMAGINE_DIFFUSERS_STEPS": str(SLOW_STEPS)})
    pool: dict[str, Worker] = {}
    try:
        for name, (ray, extra) in specs.items():
            pool[name] = start_worker(tiny_kontext, temp / f"{name}.log", ray=ray, extra=extra)
        yield pool
    finally:
        for worker in pool.values():
            stop(worker.process)
