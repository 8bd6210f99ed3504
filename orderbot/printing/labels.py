"""Printable QR package labels: one 100 × 150 mm thermal label per package (PNG), or all of an order's in a PDF.

The QR code holds exactly the CONTRACT.md label text (`core.warehouse.labels.label_text`); around it the packer
reads the order no, SKU, batch, "包裹 k/n", product, destination, and the hazard marks the parcel needs:

* UN3480/UN3481/UN3090/UN3091 → a lithium-battery box (hatched border, battery symbol, UN number, packing
  instruction) and the mark the config says to stick on; UN3480/UN3090 also "仅限货机 CAO";
* any other UN number the product carries → a dangerous-goods box with the UN number;
* fragile → "易碎 FRAGILE"; customs grade B/C → the grade, and "报关资料待补" while that task is open;
  a customs hold → "海关扣留 暂缓发货".

The lithium box is a cue for the packer, not the regulatory mark itself (that is ≥ 100 × 70 mm with a red
hatched border and is stuck on the outer box as the config's `mark` says).

Output is black on white, 1 bit per pixel (what thermal printers print), and deterministic: the same label gives
the same bytes (no timestamps, text laid out without libraqm so a machine with or without it draws the same).
"""

from __future__ import annotations

import asyncio
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import segno
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.bot.charts.fonts import cjk_font, ensure_cjk_font
from orderbot.core.errors import DomainError
from orderbot.core.models import Order, Package, Product, Task
from orderbot.core.orders.card import find_order_id
from orderbot.core.orders.customs import DOCS_TASK_TYPE, needs_documents
from orderbot.core.warehouse.labels import label_text

__all__ = [
    "CARGO_AIRCRAFT_ONLY",
    "LITHIUM_UN",
    "LABEL_MM",
    "LabelData",
    "LabelError",
    "label_filename",
    "label_size_px",
    "label_texts",
    "order_labels",
    "qr_box_px",
    "qr_matrix",
    "render_image",
    "render_pdf",
    "render_png",
    "write_labels",
]

#: Label size in millimetres (width, height), portrait: the common 100 × 150 thermal label.
LABEL_MM = (100.0, 150.0)
#: Thermal printers print at 203 dpi (8 dots/mm) or 300 dpi (12 dots/mm).
SUPPORTED_DPI = (203, 300)
#: Lithium battery UN numbers: they get the lithium box.
LITHIUM_UN = frozenset({"UN3480", "UN3481", "UN3090", "UN3091"})
#: Batteries shipped alone: forbidden on passenger aircraft, so "仅限货机 CAO".
CARGO_AIRCRAFT_ONLY = frozenset({"UN3480", "UN3090"})
#: Packing instruction when neither the product nor the config names one (IATA; UN3481/UN3091 "contained in").
DEFAULT_PI = {"UN3480": "PI 965", "UN3481": "PI 967", "UN3090": "PI 968", "UN3091": "PI 970"}

QR_ERROR = "q"  # 25 % of the code may be scuffed or smudged and it still reads
QR_QUIET_MODULES = 4  # the quiet zone ISO/IEC 18004 asks for
QR_TARGET_MM = 60.0  # the QR symbol with its quiet zone; modules come out ≥ 1.2 mm for these labels
_M = 3.0  # margin, mm
_QR_TOP_MM = 21.0  # below the header


class LabelError(DomainError):
    """The labels cannot be made (no packages yet, no label secret, a bad output path)."""


@dataclass(frozen=True)
class LabelData:
    """Everything printed on one package's label; `text` is what the QR code holds."""

    order_no: str
    package_no: int  # k: counts the order's packages from 1
    package_count: int  # n
    sku: str
    product_name: str
    batch_no: str
    qty: int
    text: str  # OB1|<order_no>|<sku>|<batch_no>|<package_no>|<check>
    tracking_no: str | None = None
    dest_country: str | None = None
    hazmat_class: str | None = None  # e.g. UN3481, from the product
    packing_instruction: str | None = None  # the product's own, e.g. "PI 966 Section II"; wins over the config's
    fragile: bool = False
    customs_grade: str = "A"  # the order's grade
    customs_docs_pending: bool = False  # a 报关资料待补 task is open for the order
    customs_hold: bool = False

    @property
    def lithium(self) -> bool:
        return self.un_number in LITHIUM_UN

    @property
    def cargo_aircraft_only(self) -> bool:
        return self.un_number in CARGO_AIRCRAFT_ONLY

    @property
    def un_number(self) -> str | None:
        """The hazmat class normalised to `UNnnnn` ("un 3481" → "UN3481"), or None."""
        if not self.hazmat_class:
            return None
        raw = self.hazmat_class.strip().upper().replace(" ", "")
        return raw if raw.startswith("UN") else f"UN{raw}" if raw.isdigit() else raw


# --- data --------------------------------------------------------------------------------------------------
async def order_labels(session: AsyncSession, ref: str, *, secret: str) -> list[LabelData]:
    """One `LabelData` per package of the order `ref` names (order no, channel order id or tracking number).

    Raises `OrderNotFound` for an unknown reference and `LabelError` when the order has no packages yet (it has
    not been released to fulfilment) or no label secret is given.
    """
    if not secret:
        raise LabelError("没有设置标签密钥 ORDERBOT_LABEL_SECRET，无法生成可校验的标签")
    order_id = await find_order_id(session, ref)
    order = (await session.execute(select(Order).where(Order.id == order_id))).scalar_one()
    rows = (
        await session.execute(
            select(Package, Product)
            .join(Product, Product.sku == Package.sku)
            .where(Package.order_id == order_id)
            .order_by(Package.package_no)
        )
    ).all()
    if not rows:
        raise LabelError(f"订单 {order.order_no} 还没有包裹（尚未进入履约），暂时不能打印标签", order_no=order.order_no)
    docs_pending = (
        await session.execute(
            select(Task.id).where(Task.order_id == order_id, Task.type == DOCS_TASK_TYPE, Task.state == "open").limit(1)
        )
    ).scalar() is not None
    count = len(rows)
    return [
        LabelData(
            order_no=order.order_no,
            package_no=pkg.package_no,
            package_count=count,
            sku=pkg.sku,
            product_name=product.name,
            batch_no=pkg.batch_no,
            qty=pkg.qty,
            text=label_text(secret, order.order_no, pkg.sku, pkg.batch_no, pkg.package_no),
            tracking_no=pkg.tracking_no or order.tracking_no,
            dest_country=order.dest_country,
            hazmat_class=product.hazmat_class,
            packing_instruction=product.packing_instruction,
            fragile=bool(product.fragile),
            customs_grade=order.customs_grade or "A",
            customs_docs_pending=docs_pending,
            customs_hold=bool(order.customs_hold),
        )
        for pkg, product in rows
    ]


# --- geometry and fonts ------------------------------------------------------------------------------------
def label_size_px(dpi: int = 203) -> tuple[int, int]:
    """The label's size in printer dots at `dpi` (799 × 1199 at 203 dpi, 1181 × 1772 at 300 dpi)."""
    return round(LABEL_MM[0] * dpi / 25.4), round(LABEL_MM[1] * dpi / 25.4)


@lru_cache(maxsize=64)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index, layout_engine=ImageFont.Layout.BASIC)


class _Canvas:
    """Drawing in millimetres on a white 1-bit-to-be image; text in the open CJK font."""

    def __init__(self, dpi: int):
        self.dpi = dpi
        self.size = label_size_px(dpi)
        self.image = Image.new("L", self.size, 255)
        self.draw = ImageDraw.Draw(self.image)
        font = cjk_font()
        self._font_file = (str(font.path), font.index)
        self.drawn: list[str] = []  # every string drawn, in order: what `label_texts` reports

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def font(self, height_mm: float) -> ImageFont.FreeTypeFont:
        """The font at a size whose em is `height_mm` tall (CJK glyphs fill about 90 % of it)."""
        return _font(*self._font_file, max(6, self.px(height_mm)))

    def width_mm(self, text: str, height_mm: float) -> float:
        return self.font(height_mm).getlength(text) * 25.4 / self.dpi

    def fit_size(self, text: str, height_mm: float, width_mm: float, min_mm: float) -> float:
        """The largest size ≤ `height_mm` (down to `min_mm`) at which `text` fits `width_mm`."""
        size = height_mm
        while size > min_mm and self.width_mm(text, size) > width_mm:
            size = max(min_mm, size - 0.25)
        return size

    def truncate(self, text: str, height_mm: float, width_mm: float) -> str:
        """`text`, cut and ended with "…" if it is wider than `width_mm`."""
        if self.width_mm(text, height_mm) <= width_mm:
            return text
        lo, hi = 0, len(text)
        while lo < hi:  # longest prefix that fits with the ellipsis
            mid = (lo + hi + 1) // 2
            if self.width_mm(text[:mid].rstrip() + "…", height_mm) <= width_mm:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo].rstrip() + "…"

    def text(
        self,
        x_mm: float,
        y_mm: float,
        text: str,
        height_mm: float,
        *,
        fill: int = 0,
        bold: bool = False,
        anchor: str = "la",
    ) -> None:
        """Draw `text` with its `anchor` (Pillow's: "la" left/ascender, "mm" middle, "ra" right…) at (x, y)."""
        self.drawn.append(text)
        stroke = self.px(height_mm) // 22 if bold and height_mm >= 4.5 else 0  # small text would clog
        self.draw.text(
            (self.px(x_mm), self.px(y_mm)),
            text,
            font=self.font(height_mm),
            fill=fill,
            anchor=anchor,
            stroke_width=stroke,
            stroke_fill=fill,
        )

    def rect(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        fill: int | None = None,
        outline: int | None = None,
        width_mm: float = 0.5,
    ) -> None:
        self.draw.rectangle(
            (self.px(x0), self.px(y0), self.px(x1) - 1, self.px(y1) - 1),
            fill=fill,
            outline=outline,
            width=self.px(width_mm) if outline is not None else 0,
        )

    def hline(self, x0: float, x1: float, y: float, width_mm: float = 0.4) -> None:
        w = max(1, self.px(width_mm))
        self.draw.rectangle((self.px(x0), self.px(y), self.px(x1) - 1, self.px(y) + w - 1), fill=0)

    def bilevel(self) -> Image.Image:
        """Thresholded to pure black and white, as the printer will print it."""
        return self.image.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=Image.Dither.NONE)


# --- QR ----------------------------------------------------------------------------------------------------
def qr_matrix(text: str) -> list[list[bool]]:
    """The QR modules for `text` (True = dark), without the quiet zone: what the label prints."""
    qr = segno.make_qr(text, error=QR_ERROR, boost_error=False)
    return [[bool(v) for v in row] for row in qr.matrix]


def qr_box_px(label: LabelData, dpi: int = 203) -> tuple[int, int, int, int]:
    """Where the QR code sits on the label: (left, top) of its first module in dots (inside the quiet zone),
    dots per module, and modules across."""
    n = len(qr_matrix(label.text))
    return _qr_geometry(n, dpi)


def _qr_geometry(n: int, dpi: int) -> tuple[int, int, int, int]:
    px = lambda mm: round(mm * dpi / 25.4)  # noqa: E731
    total = n + 2 * QR_QUIET_MODULES
    scale = max(2, px(QR_TARGET_MM) // total)  # whole dots per module, never fractional
    left = px(LABEL_MM[0] / 2) - total * scale // 2 + QR_QUIET_MODULES * scale
    top = px(_QR_TOP_MM) + QR_QUIET_MODULES * scale
    return left, top, scale, n


def _draw_qr(c: _Canvas, text: str) -> float:
    """The QR code, centred, below the header, with its white quiet zone; returns its height in mm."""
    matrix = qr_matrix(text)
    left, top, scale, n = _qr_geometry(len(matrix), c.dpi)
    quiet = QR_QUIET_MODULES * scale
    c.draw.rectangle((left - quiet, top - quiet, left + n * scale + quiet - 1, top + n * scale + quiet - 1), fill=255)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                x, y = left + col * scale, top + r * scale
                c.draw.rectangle((x, y, x + scale - 1, y + scale - 1), fill=0)
    return (n * scale + 2 * quiet) * 25.4 / c.dpi


# --- layout ------------------------------------------------------------------------------------------------


def _entry(hazmat: Mapping[str, Any] | None, un: str | None) -> tuple[str | None, str | None]:
    """(packing_instruction, mark) of the config's hazmat entry for `un`; entries may be models or dicts."""
    entry = hazmat.get(un) if hazmat and un else None
    if entry is None:
        return None, None
    get = entry.get if isinstance(entry, Mapping) else lambda k: getattr(entry, k, None)
    return get("packing_instruction"), get("mark")


def _badges(label: LabelData) -> list[tuple[str, bool]]:
    """(text, inverted) of the warning badges, most urgent first."""
    out = []
    if label.cargo_aircraft_only:
        out.append(("仅限货机 CAO", True))
    if label.customs_hold:
        out.append(("海关扣留 暂缓发货", True))
    if label.fragile:
        out.append(("易碎 FRAGILE", False))
    if needs_documents(label.customs_grade):
        out.append(
            (
                f"报关资料待补 {label.customs_grade}类"
                if label.customs_docs_pending
                else f"报关 {label.customs_grade}类 资料已齐",
                False,
            )
        )
    return out


def _battery_icon(c: _Canvas, x: float, y: float, w: float, h: float) -> None:
    """A battery pictogram: body, terminal nub, + and − signs."""
    nub = w * 0.08
    c.rect(x, y, x + w - nub, y + h, outline=0, width_mm=0.6)
    c.rect(x + w - nub, y + h * 0.3, x + w, y + h * 0.7, fill=0)
    cy = y + h / 2
    t = 0.5
    # "+" near the terminal, "−" at the other end
    px = x + (w - nub) * 0.72
    c.rect(px - h * 0.22, cy - t / 2, px + h * 0.22, cy + t / 2, fill=0)
    c.rect(px - t / 2, cy - h * 0.22, px + t / 2, cy + h * 0.22, fill=0)
    mx = x + (w - nub) * 0.25
    c.rect(mx - h * 0.22, cy - t / 2, mx + h * 0.22, cy + t / 2, fill=0)


def _hatched_box(c: _Canvas, x0: float, y0: float, x1: float, y1: float, band: float) -> None:
    """A white rectangle whose border is a band of diagonal stripes (the lithium mark's hatched border, in black)."""
    left, t, r, b = c.px(x0), c.px(y0), c.px(x1), c.px(y1)
    w, h, bw = r - left, b - t, c.px(band)
    box = Image.new("L", (w, h), 255)  # its own layer, so the stripes stay inside the box
    d = ImageDraw.Draw(box)
    step = max(4, round(bw * 1.4))
    for k in range(-h, w + step, step):
        d.line((k, h, k + h, 0), fill=0, width=max(2, round(bw * 0.5)))
    edge = max(2, c.px(0.5))
    d.rectangle((bw, bw, w - bw - 1, h - bw - 1), fill=255, outline=0, width=max(1, edge // 2))
    d.rectangle((0, 0, w - 1, h - 1), outline=0, width=edge)
    c.image.paste(box, (left, t))


def render_image(label: LabelData, hazmat: Mapping[str, Any] | None = None, *, dpi: int = 203) -> Image.Image:
    """The label as a 1-bit Pillow image, 100 × 150 mm at `dpi`.

    `hazmat` is the config's table (`BusinessConfig.hazmat`: UN number → entry with `packing_instruction` and
    `mark`; plain dicts work too). The product's own packing instruction wins over the config's."""
    return _draw(label, hazmat, dpi).bilevel()


def label_texts(label: LabelData, hazmat: Mapping[str, Any] | None = None, *, dpi: int = 203) -> list[str]:
    """Every string the label prints, in drawing order, after fitting and truncation (for checks and previews)."""
    return _draw(label, hazmat, dpi).drawn


def _draw(label: LabelData, hazmat: Mapping[str, Any] | None, dpi: int) -> _Canvas:
    if dpi not in SUPPORTED_DPI:
        raise ValueError(f"dpi must be one of {SUPPORTED_DPI}")
    c = _Canvas(dpi)
    W, H = LABEL_MM
    right = W - _M

    # header: order no on the left, "包裹 k/n" inverted on the right
    box_w = 34.0
    c.text(_M, _M, "订单号 ORDER", 3.0)
    order_w = W - 2 * _M - box_w - 2.0
    size = c.fit_size(label.order_no, 7.0, order_w, 4.0)
    c.text(_M, _M + 5.0, c.truncate(label.order_no, size, order_w), size, bold=True)
    c.rect(right - box_w, _M, right, _M + 15.0, fill=0)
    c.text(right - box_w / 2, _M + 0.6, "包裹 PACKAGE", 3.0, fill=255, anchor="ma")
    kn = f"{label.package_no}/{label.package_count}"
    c.text(right - box_w / 2, _M + 14.0, kn, c.fit_size(kn, 9.0, box_w - 3, 5.0), fill=255, bold=True, anchor="ms")
    c.hline(_M, right, 19.2, 0.5)

    # the QR code, as large as the label allows, with the raw text under it for typing in by hand
    qr_mm = _draw_qr(c, label.text)
    y = _QR_TOP_MM + qr_mm
    c.text(W / 2, y, c.truncate(label.text, 2.6, W - 2 * _M), 2.6, anchor="ma")  # below the quiet zone
    y += 3.6
    c.hline(_M, right, y, 0.4)
    y += 1.5

    # SKU and quantity, large
    qty = f"×{label.qty}"
    qty_w = c.width_mm(qty, 7.0) + 1.0
    c.text(_M, y, "SKU", 3.0)
    c.text(right, y, "数量 QTY", 3.0, anchor="ra")
    y += 3.8
    sku_w = W - 2 * _M - qty_w - 3.0
    size = c.fit_size(label.sku, 7.0, sku_w, 4.0)
    c.text(_M, y, c.truncate(label.sku, size, sku_w), size, bold=True)
    c.text(right, y, qty, 7.0, bold=True, anchor="ra")
    y += 9.0

    # batch, destination, product name, tracking number
    half = (W - 2 * _M) / 2
    c.text(_M, y, "批次", 3.0)
    c.text(_M + half, y, "目的地 DEST", 3.0)
    y += 3.6
    c.text(_M, y, c.truncate(label.batch_no, 5.0, half - 2.0), 5.0, bold=True)
    c.text(_M + half, y, c.truncate(label.dest_country or "—", 5.0, half), 5.0, bold=True)
    y += 6.8
    name_w = W - 2 * _M - 9.0
    c.text(_M, y + 0.3, "品名", 3.0)
    c.text(_M + 9.0, y, c.truncate(label.product_name, 4.2, name_w), 4.2)
    y += 5.6
    if label.tracking_no:
        c.text(_M, y + 0.3, "运单", 3.0)
        c.text(_M + 9.0, y, c.truncate(label.tracking_no, 4.2, name_w), 4.2)
    y += 5.6
    c.hline(_M, right, y, 0.5)
    y += 1.5

    # hazard area: the lithium / dangerous-goods box on the left, badges on the right (or across when no box)
    bottom = H - _M
    config_pi, mark = _entry(hazmat, label.un_number)
    badges = _badges(label)
    badge_x0 = _M
    un = label.un_number
    if un:
        box_w = 58.0 if badges else W - 2 * _M
        pi = label.packing_instruction or config_pi or DEFAULT_PI.get(un)
        _hazard_box(c, label, un, pi, _M, y, _M + box_w, bottom - (4.2 if mark else 0))
        if mark:
            c.text(_M, bottom - 3.6, c.truncate(f"须贴：{mark}", 3.0, W - 2 * _M), 3.0)
        badge_x0 = _M + box_w + 2.0
    if badges:
        _draw_badges(c, badges, badge_x0, y, right, bottom - (4.2 if mark else 0))
    return c


def _hazard_box(
    c: _Canvas, label: LabelData, un: str, pi: str | None, x0: float, y0: float, x1: float, y1: float
) -> None:
    w, h = x1 - x0, y1 - y0
    if label.lithium:
        band = 2.6
        _hatched_box(c, x0, y0, x1, y1, band)
        ix0, iy0, ix1, iy1 = x0 + band + 1.2, y0 + band + 0.8, x1 - band - 1.2, y1 - band - 0.8
        icon_h = min(7.0, (iy1 - iy0) * 0.42)
        icon_w = icon_h * 1.9
        _battery_icon(c, ix0, iy0 + 0.4, icon_w, icon_h)
        kind = "锂离子电池" if un in ("UN3480", "UN3481") else "锂金属电池"
        c.text(ix0 + icon_w + 1.5, iy0 + 0.2, kind, c.fit_size(kind, 3.6, ix1 - ix0 - icon_w - 1.5, 2.4))
        c.text(
            ix0 + icon_w + 1.5,
            iy0 + 4.3,
            "LITHIUM BATTERY",
            c.fit_size("LITHIUM BATTERY", 2.6, ix1 - ix0 - icon_w - 1.5, 2.0),
        )
        line = f"{un} · {pi}" if pi else un
        size = c.fit_size(line, 7.5, ix1 - ix0 - 1.0, 3.5)
        c.text((ix0 + ix1) / 2, iy1, line, size, bold=True, anchor="md")
    else:
        c.rect(x0, y0, x1, y1, outline=0, width_mm=1.6)
        c.text(
            x0 + w / 2,
            y0 + 2.6,
            "危险品 DANGEROUS GOODS",
            c.fit_size("危险品 DANGEROUS GOODS", 3.8, w - 5, 2.4),
            bold=True,
            anchor="ma",
        )
        line = f"{un} · {pi}" if pi else un
        c.text(x0 + w / 2, y0 + h - 2.6, line, c.fit_size(line, 7.5, w - 5, 4.0), bold=True, anchor="md")


def _draw_badges(c: _Canvas, badges: Sequence[tuple[str, bool]], x0: float, y0: float, x1: float, y1: float) -> None:
    gap = 1.4
    n = len(badges)
    cols = 1 if x1 - x0 < 60 or n == 1 else 2
    rows = math.ceil(n / cols)
    h = min(10.0, (y1 - y0 - gap * (rows - 1)) / rows)
    w = (x1 - x0 - gap * (cols - 1)) / cols
    for i, (text, inverted) in enumerate(badges):
        r, col = divmod(i, cols)
        bx, by = x0 + col * (w + gap), y0 + r * (h + gap)
        if inverted:
            c.rect(bx, by, bx + w, by + h, fill=0)
        else:
            c.rect(bx, by, bx + w, by + h, outline=0, width_mm=0.9)
        size = c.fit_size(text, min(5.2, h * 0.55), w - 3.0, 2.4)
        c.text(
            bx + w / 2,
            by + h / 2,
            c.truncate(text, size, w - 3.0),
            size,
            fill=255 if inverted else 0,
            bold=True,
            anchor="mm",
        )


# --- files -------------------------------------------------------------------------------------------------
def render_png(label: LabelData, hazmat: Mapping[str, Any] | None = None, *, dpi: int = 203) -> bytes:
    """One label as a 1-bit PNG carrying its dpi, so printing at 100 % gives 100 × 150 mm."""
    buf = io.BytesIO()
    render_image(label, hazmat, dpi=dpi).save(buf, format="PNG", dpi=(dpi, dpi), optimize=False)
    return buf.getvalue()


def render_pdf(labels: Iterable[LabelData], hazmat: Mapping[str, Any] | None = None, *, dpi: int = 203) -> bytes:
    """All labels, one per 100 × 150 mm page, in order. Deterministic: no creation date is written."""
    labels = list(labels)
    if not labels:
        raise LabelError("没有可打印的标签")
    images = [render_image(label, hazmat, dpi=dpi) for label in labels]
    w_px, h_px = images[0].size
    # the resolution that makes the page exactly 100 × 150 mm (whole dots would leave it 0.02 % off)
    resolution = (w_px * 25.4 / LABEL_MM[0], h_px * 25.4 / LABEL_MM[1])
    buf = io.BytesIO()
    images[0].save(
        buf,
        format="PDF",
        save_all=True,
        append_images=images[1:],
        dpi=resolution,
        title=f"OrderBot labels {labels[0].order_no}",
        creator="OrderBot",
        producer="OrderBot",
        creationDate=None,
        modDate=None,
    )
    return buf.getvalue()


def label_filename(label: LabelData, ext: str = "png") -> str:
    """`<order_no>-<k>of<n>.png`."""
    return f"{label.order_no}-{label.package_no}of{label.package_count}.{ext}"


async def write_labels(
    session: AsyncSession,
    ref: str,
    *,
    secret: str,
    config,
    out: Path | None = None,
    fmt: Literal["png", "pdf"] | None = None,
    dpi: int = 203,
    font_cache_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Write the labels of order `ref`; returns the paths written.

    * `fmt` "png" (default, or inferred from an `out` ending in .pdf): one file per package,
      `<order_no>-<k>of<n>.png` in the folder `out` (the current folder when None; created if missing). An
      `out` ending in ".png" names the file of a single-package order; for several packages the files are named
      `<stem>-<k>of<n>.png` beside it.
    * "pdf": one file with a page per package: `out` itself when it ends in ".pdf", else `<order_no>.pdf` in
      the folder `out` (or the current folder).

    `config` is the BusinessConfig (its `hazmat` table gives packing instructions and marks). `font_cache_dir`
    is handed to `ensure_cjk_font` (matplotlib's cache folder) the first time a font is needed.
    """
    out = Path(out) if out is not None else None
    if fmt is None:
        fmt = "pdf" if out is not None and out.suffix.lower() == ".pdf" else "png"
    if fmt not in ("png", "pdf"):
        raise LabelError(f"不支持的标签格式 {fmt}：请用 png 或 pdf")
    labels = await order_labels(session, ref, secret=secret)
    hazmat = dict(getattr(config, "hazmat", None) or {})
    await asyncio.to_thread(ensure_cjk_font, None, cache_dir=font_cache_dir)

    def targets() -> list[Path]:
        if fmt == "pdf":
            if out is not None and out.suffix.lower() == ".pdf":
                return [out]
            return [(out or Path.cwd()) / f"{labels[0].order_no}.pdf"]
        if out is not None and out.suffix.lower() == ".png":
            if len(labels) == 1:
                return [out]
            return [out.with_name(f"{out.stem}-{lb.package_no}of{lb.package_count}.png") for lb in labels]
        folder = out or Path.cwd()
        return [folder / label_filename(lb) for lb in labels]

    paths = targets()

    def render_and_write() -> None:
        if fmt == "pdf":
            blobs = [render_pdf(labels, hazmat, dpi=dpi)]
        else:
            blobs = [render_png(lb, hazmat, dpi=dpi) for lb in labels]
        for path, blob in zip(paths, blobs):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".part")
            tmp.write_bytes(blob)
            os.replace(tmp, path)

    await asyncio.to_thread(render_and_write)
    return paths
