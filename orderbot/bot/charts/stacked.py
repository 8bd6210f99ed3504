"""Delay reasons stacked per lane or per day ("深圳-洛杉矶：港口拥堵 82 · 清关查验 31 …")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orderbot.bot.charts._base import (
    INK,
    LABEL_PT,
    MARGIN_PX,
    MUTED,
    OTHER_GREY,
    PALETTE,
    PT_PX,
    SMALL_PT,
    WIDTH_PX,
    add_axes_px,
    empty_chart,
    fit,
    flow,
    header,
    header_px,
    new_figure,
    px,
    strong,
    text_px,
    to_png,
)

MAX_REASONS = 6  # more colours than this cannot be told apart on a phone; the rest become "其他"
MAX_CATEGORIES = 15
_ROW_PX = 100
_BAR_PX = 40
_LEGEND_ROW_PX = 50
OTHER = "其他"


def stacked_reasons(
    title: str, categories: Sequence[str], reasons: Mapping[str, Sequence[int]], *, subtitle: str | None = None
) -> bytes:
    """One horizontal bar per category (lane, day), split by reason, total at the end.

    `reasons[name][i]` is the count for `categories[i]`. Reasons are ordered by their total, biggest first
    (leftmost, first in the legend); beyond six the smallest are summed into "其他". Counts inside a segment
    are written when the segment is wide enough to hold them.
    """
    for name, counts in reasons.items():
        if len(counts) != len(categories):
            raise ValueError(f"reason {name!r} has {len(counts)} counts for {len(categories)} categories")
    rows = _fold(categories, reasons)
    if not categories or not rows or not any(sum(c) for c in rows.values()):
        return empty_chart(title, subtitle=subtitle)
    shown = min(len(categories), MAX_CATEGORIES)
    if shown < len(categories):
        note = f"仅显示前{MAX_CATEGORIES}项（共{len(categories)}项）"
        subtitle = f"{note} · {subtitle}" if subtitle else note
    totals = [sum(counts[i] for counts in rows.values()) for i in range(shown)]
    total_texts = [f"{t:,}" for t in totals]

    legend = _legend_rows(list(rows))
    top = header_px(subtitle) + len(legend) * _LEGEND_ROW_PX + 16
    plot_w = WIDTH_PX - 2 * MARGIN_PX
    plot_h = shown * _ROW_PX
    fig = new_figure(top + plot_h + 24)
    header(fig, title, subtitle)
    _draw_legend(fig, legend, header_px(subtitle))
    ax = add_axes_px(fig, MARGIN_PX, top, plot_w, plot_h)
    ax.set_xlim(0, plot_w)
    ax.set_ylim(plot_h, 0)
    ax.set_axis_off()

    value_px = max(text_px(t, LABEL_PT) for t in total_texts) + 20
    scale = (plot_w - value_px) / max(max(totals), 1)
    for i in range(shown):
        y_label = i * _ROW_PX + 4
        y_mid = y_label + LABEL_PT * PT_PX * 1.25 + _BAR_PX / 2
        ax.text(0, y_label, fit(categories[i], plot_w, LABEL_PT), fontsize=LABEL_PT, color=INK, va="top", ha="left")
        left = 0.0
        for k, (name, counts) in enumerate(rows.items()):
            width = counts[i] * scale
            if width <= 0:
                continue
            ax.barh(y_mid, width, height=_BAR_PX, left=left, color=_colour(k, name), edgecolor="white", linewidth=1.2)
            text = f"{counts[i]:,}"
            if width >= text_px(text, SMALL_PT) + 14:
                ax.text(
                    left + width / 2, y_mid, text, fontsize=SMALL_PT, color="white", ha="center", va="center_baseline"
                )
            left += width
        ax.text(
            left + 12,
            y_mid,
            total_texts[i],
            fontsize=LABEL_PT,
            color=INK,
            ha="left",
            va="center_baseline",
            fontweight=strong(),
        )
    return to_png(fig)


def _fold(categories: Sequence[str], reasons: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Reasons by total descending (ties keep the caller's order), the smallest folded into "其他"."""
    shown = min(len(categories), MAX_CATEGORIES)
    ranked = sorted(reasons.items(), key=lambda kv: -sum(kv[1][:shown]))
    ranked = [(name, list(counts)) for name, counts in ranked if sum(counts[:shown]) > 0]
    if len(ranked) <= MAX_REASONS:
        return dict(ranked)
    kept, rest = ranked[: MAX_REASONS - 1], ranked[MAX_REASONS - 1 :]
    other = [sum(counts[i] for _, counts in rest) for i in range(len(categories))]
    folded = dict(kept)
    folded[OTHER] = [a + b for a, b in zip(folded.get(OTHER, [0] * len(categories)), other)]
    return folded


def _legend_rows(names: list[str]) -> list[list[str]]:
    return flow([fit(n, 400, LABEL_PT) for n in names], _entry_px)


def _colour(k: int, name: str) -> str:
    return OTHER_GREY if name == OTHER else PALETTE[k % len(PALETTE)]


def _entry_px(entry: str) -> float:
    return 36 + text_px(entry, LABEL_PT) + 34


def _draw_legend(fig, rows: list[list[str]], top: float) -> None:
    from matplotlib.patches import Rectangle

    k = 0
    for r, row in enumerate(rows):
        x = MARGIN_PX
        y = top + r * _LEGEND_ROW_PX + _LEGEND_ROW_PX / 2
        for entry in row:
            x0, y0 = px(fig, x, y + 13)
            x1, y1 = px(fig, x + 26, y - 13)
            fig.add_artist(
                Rectangle((x0, y0), x1 - x0, y1 - y0, transform=fig.transFigure, color=_colour(k, entry), linewidth=0)
            )
            fig.text(
                *px(fig, x + 36, y),
                entry,
                fontsize=LABEL_PT,
                color=INK if entry != OTHER else MUTED,
                va="center_baseline",
                ha="left",
            )
            x += _entry_px(entry)
            k += 1
