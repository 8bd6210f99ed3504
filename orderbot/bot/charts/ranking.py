"""Horizontal ranking bars: "华东区昨日延迟TOP3客户" and every other top-N answer."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from orderbot.bot.charts._base import (
    ACCENT,
    INK,
    LABEL_PT,
    MARGIN_PX,
    MUTED,
    PALETTE,
    PT_PX,
    SMALL_PT,
    WIDTH_PX,
    ValueFormat,
    add_axes_px,
    empty_chart,
    fit,
    format_value,
    header,
    header_px,
    new_figure,
    strong,
    text_px,
    to_png,
)

MAX_BARS = 20
_ROW_PX = 100
_BAR_PX = 40


def ranking_bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    value_fmt: ValueFormat = "{:,.0f}",
    subtitle: str | None = None,
    highlight: str | int | Collection[str | int] | None = None,
) -> bytes:
    """Bars from the top down in the order given, each label above its bar and the value at its end.

    `highlight` names labels (or 0-based positions) drawn in red, e.g. the asker's own customer. Values are
    expected ≥ 0; None or NaN shows "—". More than 20 bars are cut to the first 20, saying so.
    """
    if len(labels) != len(values):
        raise ValueError(f"{len(labels)} labels but {len(values)} values")
    if not labels:
        return empty_chart(title, subtitle=subtitle)
    shown = len(labels) if len(labels) <= MAX_BARS else MAX_BARS
    if shown < len(labels):  # the note goes first: a long subtitle is cut at its end
        note = f"仅显示前{MAX_BARS}名（共{len(labels)}项）"
        subtitle = f"{note} · {subtitle}" if subtitle else note
    marked = _highlighted(highlight, labels)

    numbers = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values[:shown]]
    texts = ["—" if v is None else format_value(value_fmt, v) for v in numbers]
    plot_w = WIDTH_PX - 2 * MARGIN_PX
    value_px = max(text_px(t, LABEL_PT) for t in texts) + 20
    longest = max((v for v in numbers if v is not None), default=0.0)
    scale = (plot_w - value_px) / longest if longest > 0 else 0.0

    plot_h = shown * _ROW_PX
    fig = new_figure(header_px(subtitle) + plot_h + 24)
    top = header(fig, title, subtitle)
    ax = add_axes_px(fig, MARGIN_PX, top, plot_w, plot_h)
    ax.set_xlim(0, plot_w)
    ax.set_ylim(plot_h, 0)  # pixel coordinates, y downwards
    ax.set_axis_off()

    indent = text_px(str(shown), SMALL_PT) + 14
    for i, (label, value, text) in enumerate(zip(labels[:shown], numbers, texts)):
        hot = i in marked
        colour = ACCENT if hot else PALETTE[0]
        y_label = i * _ROW_PX + 4
        y_bar = y_label + LABEL_PT * PT_PX * 1.25
        ax.text(0, y_label, f"{i + 1}", fontsize=SMALL_PT, color=MUTED, va="top", ha="left")
        ax.text(
            indent,
            y_label,
            fit(label, plot_w - indent, LABEL_PT),
            fontsize=LABEL_PT,
            color=INK,
            va="top",
            ha="left",
            fontweight=strong() if hot else "normal",
        )
        length = max(0.0, (value or 0.0) * scale)
        ax.barh(y_bar + _BAR_PX / 2, max(length, 3.0), height=_BAR_PX, left=0, color=colour, linewidth=0)
        ax.text(
            length + 12,
            y_bar + _BAR_PX / 2,
            text,
            fontsize=LABEL_PT,
            color=colour if hot else INK,
            va="center_baseline",
            ha="left",
            fontweight=strong(),
        )
    return to_png(fig)


def _highlighted(highlight, labels: Sequence[str]) -> set[int]:
    if highlight is None:
        return set()
    wanted = [highlight] if isinstance(highlight, (str, int)) else list(highlight)
    found = set()
    for item in wanted:
        if isinstance(item, int) and not isinstance(item, bool):
            found.add(item)
        else:
            found.update(i for i, label in enumerate(labels) if label == item)
    return found
