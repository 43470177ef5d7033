"""The runner's switches and sizes (First Block Cache, warm-up) on the tiny pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imagine.gpu.runner import KontextConfig, KontextRunner, ModelLoadError
from imagine.gpu.sizes import KONTEXT_SIZES, size_for


def test_each_ratio_gets_the_nearest_trained_size() -> None:
    assert size_for("1:1") == (1024, 1024)
    assert size_for("16:9") == (1392, 752)
    assert size_for("9:16") == (752, 1392)
    assert size_for("3:2") == (1248, 832)
    assert size_for("4:3") == (1184, 880)
    assert all(size in KONTEXT_SIZES for size in map(size_for, ["3:4", "2:3"]))
    with pytest.raises(ValueError):
        size_for("5:1")


def test_first_block_cache_and_warm_up(tiny_kontext: Path) -> None:
    config = KontextConfig(
        source=str(tiny_kontext), steps=4, max_sequence_length=32, first_block_cache=0.5
    )
    runner = KontextRunner.load(config)
    assert runner.warm_up(width=512, height=512, steps=2) > 0
    seen: list[float] = []
    out = runner.generate(
        Image.new("RGB", (1248, 832), (90, 30, 200)),
        "add a hat",
        width=1248,
        height=832,
        seed=1,
        progress=seen.append,
    )
    assert out.size == (1248, 832)
    assert seen == [0.25, 0.5, 0.75, 1.0]
    assert runner.steps_run == 2 + 4


def test_a_repo_id_not_in_the_local_cache_is_a_load_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="could not load"):
        KontextRunner.load(KontextConfig(source="black-forest-labs/FLUX.1-Kontext-dev"))
