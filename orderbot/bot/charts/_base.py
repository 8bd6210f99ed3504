"""What every chart shares: the phone-sized canvas, colours, type sizes, label cleaning and PNG output.

Sizes: 1080 px wide at 200 dpi (5.4 in), so a point is 2.78 px. A phone shows the picture about 390 css px wide,
so 13 pt labels come out near 13 css px: readable without zooming.
"""

from __future__ import annotations

import functools
import io
import threading
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING

from PIL import Image

from orderbot.bot.charts.fonts import cjk_font
from orderbot.messaging.png import shrink_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WIDTH_PX = 1080
DPI = 200
MAX_PNG_BYTES = 2_000_000  # WeCom group robots take images up to 2 MB before base64; kept a little under
MARGIN_PX = 44

BACKGROUND = "#ffffff"
INK = "#1f2328"
MUTED = "#59636e"
GRID = "#d8dee4"
TRACK = "#eef1f4"
ACCENT = "#d1242f"  # highlight / disagreement / stuck
OTHER_GREY = "#8c959f"  # the folded "其他" share
OK = "#1a7f37"
# Okabe–Ito order, darkened where white text must sit on it; no yellow (unreadable on white).
PALETTE = ("#0060a8", "#d55e00", "#00856a", "#a8467f", "#b07800", "#4c8fd6", "#5b5b5b", "#7a5195")

TITLE_PT = 17
SUBTITLE_PT = 12
LABEL_PT = 13
TICK_PT = 11.5
SMALL_PT = 10.5

PT_PX = DPI / 72

ValueFormat = str | Callable[[float], str]


def new_figure(height_px: int) -> Figure:
    """A white 1080 px wide figure, not attached to pyplot (safe in worker threads)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, facecolor=BACKGROUND)


def to_png(fig: Figure, max_bytes: int = MAX_PNG_BYTES) -> bytes:
    """Render to PNG bytes: opaque RGB, no metadata (so equal input gives equal bytes), under `max_bytes`."""
    return encode_png(to_image(fig), max_bytes)


def to_image(fig: Figure) -> Image.Image:
    """Rasterise with Agg into an RGB Pillow image (charts are opaque; RGB encodes smaller and faster)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")


def encode_png(image: Image.Image, max_bytes: int = MAX_PNG_BYTES) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return shrink_png(buf.getvalue(), max_bytes)


def px(fig: Figure, x: float, y_from_top: float) -> tuple[float, float]:
    """Figure fraction of a point given in pixels from the left and from the top."""
    w, h = fig.bbox.width, fig.bbox.height
    return x / w, 1 - y_from_top / h


def add_axes_px(fig: Figure, left: float, top: float, width: float, height: float):
    """An axes placed in pixels (from the top-left corner): layout by arithmetic, no layout engine."""
    w, h = fig.bbox.width, fig.bbox.height
    return fig.add_axes((left / w, 1 - (top + height) / h, width / w, height / h))


def strong() -> str:
    """Bold when the chosen font has a bold face; otherwise regular (hierarchy then comes from size/colour)."""
    return "bold" if cjk_font().bold else "normal"


def header_px(subtitle: str | None = None) -> int:
    """Pixels the title block takes at the top of a chart."""
    used = 30 + TITLE_PT * PT_PX * 1.25
    if subtitle:
        used += 6 + SUBTITLE_PT * PT_PX * 1.3
    return int(used + 18)


def header(fig: Figure, title: str, subtitle: str | None = None) -> int:
    """Draw the title (and subtitle) top-left; return the pixel height they take."""
    fig.text(
        *px(fig, MARGIN_PX, 30),
        fit(title, WIDTH_PX - 2 * MARGIN_PX, TITLE_PT),
        fontsize=TITLE_PT,
        color=INK,
        fontweight=strong(),
        va="top",
        ha="left",
    )
    if subtitle:
        fig.text(
            *px(fig, MARGIN_PX, 36 + TITLE_PT * PT_PX * 1.25),
            fit(subtitle, WIDTH_PX - 2 * MARGIN_PX, SUBTITLE_PT),
            fontsize=SUBTITLE_PT,
            color=MUTED,
            va="top",
            ha="left",
        )
    return header_px(subtitle)


def empty_chart(title: str, message: str = "暂无数据", subtitle: str | None = None) -> bytes:
    """The chart for no data: the title and a clear grey message, never an exception."""
    fig = new_figure(520)
    top = header(fig, title, subtitle)
    fig.text(0.5, (1 - top / 520) / 2, message, fontsize=TITLE_PT + 3, color=MUTED, ha="center", va="center")
    return to_png(fig)


def units(text: str) -> int:
    """Display width: 2 for a full-width (CJK) character, 1 for anything else."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def clean(
    text: object, max_units: int | None = None, *, middle: bool = False, placeholder: str = "?", face_only: bool = False
) -> str:
    """A label that draws: control characters become spaces, characters no font has (most emoji) are
    dropped (`placeholder` stands in if nothing is left), and anything wider than `max_units` is cut with "…"
    (in the middle for IDs, whose ends both matter). `face_only` keeps only what the CJK face itself has,
    for text drawn without matplotlib's per-glyph fallback (Pillow, in the word cloud)."""
    font = cjk_font()
    known = font.face_codepoints if face_only else font.codepoints
    s = " ".join("".join(ch if ch.isprintable() else " " for ch in str(text)).split())
    s = "".join(ch for ch in s if ord(ch) in known) or (placeholder if s else "")
    if max_units is None or units(s) <= max_units:
        return s
    budget = max_units - 1
    if middle:
        head = _take(s, (budget + 1) // 2)
        tail = _take(s[::-1], budget - units(head))[::-1]
        return f"{head}…{tail}"
    return _take(s, budget) + "…"


def fit(text: object, max_px: float, pt: float, *, middle: bool = False) -> str:
    """`clean(text)` cut with "…" to at most `max_px` pixels wide at `pt` points, measured with the font."""
    s = clean(text)
    if text_px(s, pt) <= max_px:
        return s

    def cut(k: int) -> str:
        if middle:
            head = (k + 1) // 2
            return f"{s[:head]}…{s[len(s) - (k - head) :]}" if k > head else f"{s[:head]}…"
        return s[:k] + "…"

    lo, hi = 0, len(s) - 1  # the longest cut that fits, by bisection on the kept characters
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_px(cut(mid), pt) <= max_px:
            lo = mid
        else:
            hi = mid - 1
    return cut(lo) if lo else "…"


def text_px(text: str, pt: float) -> float:
    """Rendered width of `text` in pixels at `pt` points (advance widths of the chart font)."""
    return _measuring_font(round(pt * PT_PX), threading.get_ident()).getlength(text)


@functools.lru_cache(maxsize=32)
def _measuring_font(size_px: int, _thread: int):
    # FreeType faces are not safe to share between threads; one per thread and size, like matplotlib does.
    from PIL import ImageFont

    font = cjk_font()
    return ImageFont.truetype(str(font.path), size_px, index=font.index)


def _take(s: str, budget: int) -> str:
    out, used = [], 0
    for ch in s:
        used += units(ch)
        if used > budget:
            break
        out.append(ch)
    return "".join(out)


def flow(entries: list[str], width_of: Callable[[str], float]) -> list[list[str]]:
    """Legend entries wrapped into rows that fit between the margins."""
    rows: list[list[str]] = [[]]
    used = 0.0
    for entry in entries:
        w = width_of(entry)
        if rows[-1] and used + w > WIDTH_PX - 2 * MARGIN_PX:
            rows.append([])
            used = 0.0
        rows[-1].append(entry)
        used += w
    return rows


def format_value(fmt: ValueFormat, value: float) -> str:
    return fmt(value) if callable(fmt) else fmt.format(value)
