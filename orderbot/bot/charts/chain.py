"""Where an order is on the fulfilment chain (payment → … → signed receipt), for the order card."""

from __future__ import annotations

import math
from collections.abc import Sequence

from orderbot.bot.charts._base import (
    ACCENT,
    GRID,
    INK,
    MARGIN_PX,
    MUTED,
    OK,
    PALETTE,
    SMALL_PT,
    TITLE_PT,
    WIDTH_PX,
    add_axes_px,
    empty_chart,
    fit,
    header,
    header_px,
    new_figure,
    strong,
    to_png,
)

_PER_ROW = 6
_ROW_PX = 190
_R = 30


def progress_chain(
    stages: Sequence[str], current_index: int, *, title: str | None = None, stuck: bool = False
) -> bytes:
    """Numbered nodes in a snake of rows of six: done ones green with a tick, the current one blue (red and
    marked 卡住 when `stuck`), later ones grey outlines. The default title says "履约进度 7/11 · 报关"."""
    if not stages:
        return empty_chart(title or "履约进度")
    if not 0 <= current_index < len(stages):
        raise ValueError(f"current_index {current_index} outside 0..{len(stages) - 1}")
    n = len(stages)
    current = fit(stages[current_index], 400, TITLE_PT)
    if title is None:
        title = f"履约进度 {current_index + 1}/{n} · {current}{'（卡住）' if stuck else ''}"
    cols = min(n, _PER_ROW)
    rows = math.ceil(n / cols)
    top = header_px()
    plot_w = WIDTH_PX - 2 * MARGIN_PX
    plot_h = rows * _ROW_PX
    fig = new_figure(top + plot_h + 10)
    header(fig, title)
    ax = add_axes_px(fig, MARGIN_PX, top, plot_w, plot_h)
    ax.set_xlim(0, plot_w)
    ax.set_ylim(plot_h, 0)
    ax.set_axis_off()

    step = plot_w / cols
    centres = []
    for i in range(n):
        r, c = divmod(i, cols)
        c = c if r % 2 == 0 else cols - 1 - c  # snake: every other row runs right to left
        centres.append((step * c + step / 2, r * _ROW_PX + _R + 22))
    for i in range(n - 1):
        (x0, y0), (x1, y1) = centres[i], centres[i + 1]
        done = i < current_index
        if y0 == y1:
            xs, ys = [x0, x1], [y0, y1]
        else:  # the turn between rows goes round the outside, clear of the stage name under the node
            side = step * 0.42 * (1 if (i // cols) % 2 == 0 else -1)
            xs, ys = [x0, x0 + side, x1 + side, x1], [y0, y0, y1, y1]
        ax.plot(
            xs,
            ys,
            color=OK if done else GRID,
            linewidth=4 if done else 2.5,
            solid_joinstyle="round",
            solid_capstyle="butt",
            zorder=1,
        )

    from matplotlib.patches import Circle

    hot = ACCENT if stuck else PALETTE[0]
    for i, ((x, y), stage) in enumerate(zip(centres, stages)):
        if i < current_index:
            face, edge, mark, ink = OK, OK, "✓", "white"
        elif i == current_index:
            ax.add_patch(Circle((x, y), _R + 11, facecolor="none", edgecolor=hot, linewidth=2.5, zorder=2))
            face, edge, mark, ink = hot, hot, str(i + 1), "white"
        else:
            face, edge, mark, ink = "white", GRID, str(i + 1), MUTED
        ax.add_patch(Circle((x, y), _R, facecolor=face, edgecolor=edge, linewidth=2.5, zorder=3))
        ax.text(
            x, y, mark, fontsize=SMALL_PT, color=ink, ha="center", va="center_baseline", zorder=4, fontweight=strong()
        )
        is_now = i == current_index
        ax.text(
            x,
            y + _R + 24,
            fit(stage, step - 10, SMALL_PT),
            fontsize=SMALL_PT,
            ha="center",
            va="top",
            color=hot if is_now else (INK if i < current_index else MUTED),
            fontweight=strong() if is_now else "normal",
        )
    return to_png(fig)
