"""The catalog file: the bundled one, an operator's replacement, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagine.catalog import ASPECT_SIZES, CatalogError, default_catalog, load_catalog


def test_bundled_catalog_keeps_the_contract_models() -> None:
    catalog = default_catalog()
    assert list(catalog)[:2] == ["flux-kontext-max", "flux-kontext-pro"]
    assert (catalog["flux-kontext-max"].price, catalog["flux-kontext-pro"].price) == (8, 4)
    for kontext in ("flux-kontext-max", "flux-kontext-pro"):
        model = catalog[kontext]
        assert model.kind == "edit" and model.requires_image and model.max_images == 1
        assert model.sizing == "aspect_ratio" and model.ratios == tuple(ASPECT_SIZES)
        assert model.upstream_id("bfl") == kontext
    assert catalog["flux-2-klein-4b"].max_images == 4
    assert catalog["flux-2-klein-9b"].max_images == 5
    assert not catalog["flux-2-pro"].requires_image
    # fal serves FLUX.2 editing and text-to-image as two apps; the others use one id.
    pro = catalog["flux-2-pro"]
    assert pro.upstream_id("fal") == "fal-ai/flux-2-pro/edit"
    assert pro.upstream_id("fal", "generate") == "fal-ai/flux-2-pro"
    assert pro.upstream_id("replicate", "generate") == "black-forest-labs/flux-2-pro"
    assert catalog["flux-2-klein-4b"].upstream_id("fal") is None
    assert catalog["flux-2-flex"].params == ("guidance", "steps", "prompt_upsampling")
    assert all(not m.params for m in catalog.values() if m.id != "flux-2-flex")


def test_empty_setting_means_the_bundled_file() -> None:
    assert load_catalog("") == default_catalog()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1\n", "no [models.<id>] tables"),
        ('[models.a]\nprice = "4"\n', "price must be a whole number"),
        ('[models.a]\nprice = 1\nkind = ["paint"]\n', "kind must be a list of"),
        ("[models.a]\nprice = 1\nmax_images = 0\n", "an edit model takes at least one"),
        ('[models.a]\nprice = 1\nratios = ["5:4"]\n', "ratios must be a list of"),
        ('[models.a]\nprice = 1\nsizing = "big"\n', "sizing must be one of"),
        ("[models.a]\nprice = 1\n[models.a.engines]\nbfl = 3\n", "engines must map"),
        ('[models.a]\nprice = 1\n[models.a.engines]\nfal = { paint = "x" }\n', "engines must map"),
        (
            '[models.a]\nprice = 1\nkind = ["edit", "generate"]\n'
            '[models.a.engines]\nfal = { edit = "x" }\n',
            "engines.fal must name an id for each kind: edit, generate",
        ),
        ('[models.a]\nprice = 1\nparams = ["cfg"]\n', "params must be a list of"),
    ],
)
def test_a_bad_file_is_refused_naming_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "nope.toml")
