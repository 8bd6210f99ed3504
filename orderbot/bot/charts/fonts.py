"""One open-licensed CJK font for every chart, chosen once at start-up.

Order of preference (the first that exists wins):
1. a font file the operator configured (`font_path`);
2. a system font: Debian's `fonts-noto-cjk` (Noto Sans CJK SC) or `fonts-wqy-microhei` (WenQuanYi Micro Hei),
   or either family wherever matplotlib's font list found it;
3. a font shipped on PyPI: `noto-cjk-sans-otc` (the project's dependency, Noto Sans CJK, OFL-1.1), then
   `mpl-font` or `paperang-p2-fonts-cjk` if someone installed those instead.
Proprietary fonts (SimHei, Microsoft YaHei, PingFang…) are never chosen, even when configured.

matplotlib is imported inside the functions, never at module import: it reads `MPLCONFIGDIR` once, when it is
first imported, so `ensure_cjk_font(cache_dir=…)` must get the chance to point it at a writable folder first.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

_log = logging.getLogger(__name__)

#: Families we accept, best first. All are under the SIL Open Font License or Apache-2.0.
OPEN_CJK_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei")
#: Families we refuse even when configured: their licences forbid redistribution in what we render and ship.
PROPRIETARY_FAMILIES = frozenset(
    {
        "simhei",
        "simsun",
        "nsimsun",
        "microsoft yahei",
        "microsoft jhenghei",
        "kaiti",
        "fangsong",
        "stheiti",
        "heiti sc",
        "heiti tc",
        "pingfang sc",
        "pingfang tc",
        "hiragino sans gb",
        "stsong",
        "stkaiti",
    }
)
_LATIN_FALLBACK = "DejaVu Sans"  # bundled with matplotlib; covers symbols the CJK font lacks

# (path, face index, family, source); face 2 of the Noto Sans CJK collection is Simplified Chinese.
SYSTEM_FONT_FILES: tuple[tuple[str, int, str, str], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "Noto Sans CJK SC", "system:fonts-noto-cjk"),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "WenQuanYi Micro Hei", "system:fonts-wqy-microhei"),
)
# (importable package, file inside it, face index, family); located with find_spec so nothing is imported
# (mpl_font would import pyplot and rewrite rcParams on import).
_PACKAGED_FILES = (
    ("noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", 2, "Noto Sans CJK SC"),
    ("mpl_font", "fonts/noto/NotoSansCJKsc-Regular.otf", 0, "Noto Sans CJK SC"),
    ("mpl_font", "fonts/wqy/wqy-microhei.ttc", 0, "WenQuanYi Micro Hei"),
    ("paperang_p2_fonts_cjk", "fonts/wqy-microhei.ttc", 0, "WenQuanYi Micro Hei"),
)


class CJKFontNotFound(RuntimeError):
    """No open-licensed CJK font exists on this machine; the message says how to install one."""


@dataclass(frozen=True)
class CJKFont:
    """The font every chart uses: the family name matplotlib knows it by and where its file is."""

    family: str
    path: Path
    index: int  # face within a .ttc collection
    source: str  # "configured", "system:…", "package:…" or "matplotlib:…"
    codepoints: frozenset[int] = field(repr=False, compare=False)  # CJK face plus the Latin fallback
    face_codepoints: frozenset[int] = field(repr=False, compare=False)  # the CJK face alone
    bold: bool = False  # a bold face of the family is registered too (system fonts-noto-cjk has one)

    def covers(self, text: str) -> bool:
        """Whether matplotlib can draw every character (with the per-glyph Latin fallback)."""
        return all(ord(ch) in self.codepoints for ch in text)


_lock = threading.Lock()
_chosen: CJKFont | None = None


def prepare_matplotlib(cache_dir: str | os.PathLike | None) -> None:
    """Point matplotlib's config/cache folder at `cache_dir` before matplotlib is first imported.

    matplotlib only reads the `MPLCONFIGDIR` environment variable, once, at import; with an unwritable home it
    would log a warning and rebuild its font cache in a fresh temp folder on every start. An explicit
    `MPLCONFIGDIR` set by the operator wins. Called by `ensure_cjk_font`; harmless when too late.
    """
    if cache_dir is None or os.environ.get("MPLCONFIGDIR"):
        return
    if "matplotlib" in sys.modules:
        _log.info("matplotlib already imported; MPLCONFIGDIR=%s not applied", cache_dir)
        return
    path = Path(cache_dir)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["MPLCONFIGDIR"] = str(path)  # matplotlib's only switch for this; set before its import


def ensure_cjk_font(font_path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None) -> str:
    """Choose and register the CJK font once; return the family name matplotlib draws with.

    Idempotent and thread-safe: later calls return the first choice whatever their arguments. Also sets the
    few process-wide matplotlib defaults every chart relies on (font family with a Latin fallback, no mathtext
    so a `$` in a customer name stays a dollar sign). Raises `CJKFontNotFound` when there is no font at all.
    """
    global _chosen
    with _lock:
        if _chosen is None:
            prepare_matplotlib(cache_dir)
            _chosen = _register(find_cjk_font(font_path))
            _log.debug("charts use %s from %s (%s)", _chosen.family, _chosen.path, _chosen.source)
        return _chosen.family


def cjk_font() -> CJKFont:
    """The registered font (registering the default choice first if start-up did not)."""
    if _chosen is None:  # read without the lock: set once, never unset
        ensure_cjk_font()
    assert _chosen is not None
    return _chosen


def find_cjk_font(
    font_path: str | os.PathLike | None = None,
    *,
    system_files: Iterable[tuple[str, int, str, str]] = SYSTEM_FONT_FILES,
    search_matplotlib: bool = True,
) -> CJKFont:
    """Pick the font without changing matplotlib's state. `system_files` are (path, face, family, source)
    tried after a configured file; `search_matplotlib` also accepts open CJK families matplotlib found."""
    for path, index, family, source in _candidates(font_path, system_files, search_matplotlib):
        if family.casefold() in PROPRIETARY_FAMILIES:
            raise CJKFontNotFound(f"{path}: {family} is proprietary; use Noto Sans CJK SC or WenQuanYi Micro Hei")
        if Path(path).is_file():
            face, fallback = _codepoints(Path(path), index)
            return CJKFont(family, Path(path), index, source, face | fallback, face)
    raise CJKFontNotFound(
        "no open-licensed CJK font found: install the Python package noto-cjk-sans-otc "
        "(a dependency of orderbot) or the Debian package fonts-noto-cjk / fonts-wqy-microhei"
    )


def _candidates(font_path, system_files, search_matplotlib):
    if font_path is not None:
        path = Path(font_path)
        if not path.is_file():
            raise CJKFontNotFound(f"configured chart font {path} does not exist")
        yield (*_describe(path), "configured")
    yield from system_files
    if search_matplotlib:
        yield from _matplotlib_known()
    for module, rel, index, family in _PACKAGED_FILES:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                yield str(Path(folder, rel)), index, family, f"package:{module}"


def _matplotlib_known():
    """Open CJK families matplotlib's font list found in the system folders (other distributions, macOS)."""
    from matplotlib import font_manager

    for family in OPEN_CJK_FAMILIES:
        for entry in font_manager.fontManager.ttflist:
            if entry.name == family and entry.weight in (400, "normal", "regular"):
                yield entry.fname, getattr(entry, "index", 0), family, "matplotlib:system"


def _describe(path: Path) -> tuple[str, int, str]:
    """(path, face, family) of a configured file: the Simplified Chinese face of a collection when it has one."""
    from matplotlib import ft2font

    first = ft2font.FT2Font(str(path))
    faces = [first] + [ft2font.FT2Font(str(path), face_index=i) for i in range(1, first.num_faces)]
    ranked = sorted(range(len(faces)), key=lambda i: (not faces[i].family_name.endswith((" SC", " CN")), i))
    best = ranked[0]
    return str(path), best, faces[best].family_name


def _codepoints(path: Path, index: int) -> tuple[frozenset[int], frozenset[int]]:
    """Characters of the CJK face, and of the Latin fallback matplotlib switches to per glyph."""
    from matplotlib import font_manager, ft2font

    cjk = ft2font.FT2Font(str(path), face_index=index).get_charmap()
    latin = ft2font.FT2Font(font_manager.findfont(_LATIN_FALLBACK, fallback_to_default=False)).get_charmap()
    return frozenset(cjk), frozenset(latin)


def _register(font: CJKFont) -> CJKFont:
    import matplotlib
    from matplotlib import font_manager

    known = {(e.fname, getattr(e, "index", 0), e.name) for e in font_manager.fontManager.ttflist}
    if (str(font.path), font.index, font.family) not in known:
        font_manager.fontManager.addfont(str(font.path))
    # Asking for a weight the family lacks makes matplotlib log a warning on every render: only ask if present.
    bold = any(e.name == font.family and _weight(e.weight) >= 600 for e in font_manager.fontManager.ttflist)
    # Read once at start-up, then only read by the render threads; a list gives per-glyph fallback.
    matplotlib.rcParams["font.family"] = [font.family, _LATIN_FALLBACK]
    matplotlib.rcParams["text.parse_math"] = False
    matplotlib.rcParams["axes.unicode_minus"] = True
    return replace(font, bold=bold)


def _weight(weight: int | str) -> int:
    from matplotlib.font_manager import weight_dict

    return weight if isinstance(weight, int) else weight_dict.get(weight, 400)
