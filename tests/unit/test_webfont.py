"""The sandbox page's web font is current: every character the package can show, and the source font has, is in
the committed subset (a text change that adds a character fails here until the subset is rebuilt with
`PYTHONPATH=$PWD python -m orderbot.sandbox.webfont`)."""

from __future__ import annotations

import pytest

from orderbot.sandbox.webfont import FONT_FILE, source_font, wanted_characters

ttLib = pytest.importorskip("fontTools.ttLib", reason="fontTools is a dev dependency: pip install -e '.[dev]'")
pytest.importorskip("brotli", reason="reading WOFF2 needs brotli, a dev dependency")


def test_the_committed_subset_holds_every_character_the_package_shows():
    with ttLib.TTFont(FONT_FILE, lazy=True) as font:
        subset = set(font.getBestCmap())
    with source_font(lazy=True) as font:  # emoji and the like are in neither: the browser's own fonts draw them
        source = set(font.getBestCmap())
    missing = "".join(c for c in wanted_characters() if ord(c) in source and ord(c) not in subset)
    assert not missing, f"the web font lacks {missing!r}: run PYTHONPATH=$PWD python -m orderbot.sandbox.webfont"
