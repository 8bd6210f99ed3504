"""The sandbox page's web font: a subset of the bundled Noto Sans CJK SC, shipped as a small WOFF2 file.

The whole collection (`noto-cjk-sans-otc`, 19 MB) is far too heavy for a page, and a browser on a bare server has
no CJK font of its own (every character a box). The subset holds the 3,755 most common Chinese characters
(GB2312 level 1), every character that appears in the package's own texts (page, replies, seed names,
example config), ASCII and the CJK punctuation: about a megabyte, and characters outside it fall back to the
browser's own fonts through the CSS font stack.

The subset is built by developers (fonttools and brotli are dev dependencies) and shipped in
`static/fonts/`; the page never builds anything at run time:

    PYTHONPATH=$PWD python -m orderbot.sandbox.webfont      # rewrites static/fonts/NotoSansSC-orderbot.woff2
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # orderbot/
FONT_FILE = Path(__file__).with_name("static") / "fonts" / "NotoSansSC-orderbot.woff2"
FONT_URL = "/sandbox/static/fonts/NotoSansSC-orderbot.woff2"
TEXT_SUFFIXES = (".py", ".toml", ".html", ".js", ".css")
PUNCTUATION = "，。、；：？！“”‘’（）【】《》〈〉「」『』—…·￥％＋－＝～｜／＼０１２３４５６７８９"


def gb2312_level1() -> str:
    """The 3,755 most common characters (GB2312 rows 16–55, decoded from their two-byte codes)."""
    out = []
    for row in range(0xB0, 0xD8):
        for cell in range(0xA1, 0xFF):
            if row == 0xD7 and cell > 0xF9:  # row 55 ends early
                break
            out.append(bytes((row, cell)).decode("gb2312"))
    return "".join(out)


def package_characters(root: Path = PACKAGE) -> set[str]:
    """Every non-ASCII character in the package's texts (what the page, replies and the seed can show)."""
    chars: set[str] = set()
    for path in sorted(root.rglob("*")):
        if path.suffix in TEXT_SUFFIXES and path.is_file():
            chars |= {c for c in path.read_text(encoding="utf-8", errors="ignore") if ord(c) > 0x7F}
    example = root.parent / "orderbot.example.toml"
    if example.exists():
        chars |= {c for c in example.read_text(encoding="utf-8") if ord(c) > 0x7F}
    return chars


def wanted_characters() -> str:
    ascii_ = "".join(chr(c) for c in range(0x20, 0x7F))
    return "".join(sorted(set(ascii_ + PUNCTUATION + gb2312_level1()) | package_characters()))


def source_font(lazy: bool = False):
    """The bundled collection's Simplified Chinese face (fontTools `TTFont`), the subset's source."""
    from fontTools.ttLib import TTFont

    from orderbot.bot.charts.fonts import _PACKAGED_FILES

    import importlib.util

    package, name, index, _family = _PACKAGED_FILES[0]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed (pip install -e '.[dev]')")
    return TTFont(Path(next(iter(spec.submodule_search_locations))) / name, fontNumber=index, lazy=lazy)


def build(out: Path = FONT_FILE) -> Path:
    """Subset the bundled collection's Simplified Chinese face to `wanted_characters()`, as WOFF2."""
    from fontTools import subset

    font = source_font()
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False  # browsers hint CJK outlines themselves; hints are a third of the size
    sub = subset.Subsetter(options)
    sub.populate(text=wanted_characters())
    sub.subset(font)
    out.parent.mkdir(parents=True, exist_ok=True)
    font.flavor = "woff2"
    font.save(out)
    return out


def main() -> int:
    path = build()
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB, {len(wanted_characters())} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
