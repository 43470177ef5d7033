"""Colour words: CSS names, compound names, shades and finishes."""

from __future__ import annotations

import pytest

from imagine.engines.offline.colours import COLOURS, find_colour, join_compound_names


def test_css_names_are_all_there() -> None:
    assert COLOURS["rebeccapurple"] == (102, 51, 153)
    assert len(COLOURS) > 140
    assert "snow" not in COLOURS  # weather, not paint


def test_compound_names_are_joined() -> None:
    assert join_compound_names("make it dark slate blue now") == "make it darkslateblue now"
    assert join_compound_names("light green and hot pink") == "lightgreen and hotpink"


@pytest.mark.parametrize(
    ("text", "name", "finish"),
    [
        ("matte black", "black", "matte"),
        ("metallic dark blue", "darkblue", "metallic"),
        ("red glossy", "red", "glossy"),
        ("pale bronze", "pale bronze", "plain"),
    ],
)
def test_find_colour(text: str, name: str, finish: str) -> None:
    found = find_colour(text)
    assert found is not None
    assert (found[0].name, found[0].finish) == (name, finish)
    assert found[1] == (0, len(text))


def test_shades_lighten_and_darken() -> None:
    pale, dark = find_colour("pale bronze"), find_colour("dark bronze")
    assert pale is not None and dark is not None
    assert sum(pale[0].rgb) > sum(COLOURS["bronze"]) > sum(dark[0].rgb)


def test_no_colour() -> None:
    assert find_colour("make it brighter") is None
