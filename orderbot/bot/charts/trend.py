"""Daily trend lines, each with the previous period dashed behind it (daily report, "近7天取消率趋势")."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime

from orderbot.bot.charts._base import (
    GRID,
    INK,
    LABEL_PT,
    MARGIN_PX,
    MUTED,
    PALETTE,
    PT_PX,
    SMALL_PT,
    TICK_PT,
    WIDTH_PX,
    ValueFormat,
    add_axes_px,
    empty_chart,
    fit,
    flow,
    format_value,
    header,
    header_px,
    new_figure,
    px,
    strong,
    text_px,
    to_png,
)

_PLOT_PX = 620
_MAX_XTICKS = 6
_LEGEND_ROW_PX = 52


def trend_lines(
    title: str,
    dates: Sequence[date | datetime | str],
    series: Mapping[str, Sequence[float | None]],
    *,
    previous: Mapping[str, Sequence[float | None]] | None = None,
    y_fmt: ValueFormat = "{:,.0f}",
    percent: bool = False,
    subtitle: str | None = None,
) -> bytes:
    """One solid line per series over `dates`, the same metric of the previous period dashed in its colour.

    Every list is as long as `dates` (None leaves a gap); `previous` keys must be series names. With
    `percent=True` values are fractions (0.034 → 3.4%) and `y_fmt` is ignored. The latest value of each series
    is written at the line's end, since that is what the reader asks about.
    """
    previous = previous or {}
    for name, values in [*series.items(), *previous.items()]:
        if len(values) != len(dates):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(dates)} dates")
    if unknown := set(previous) - set(series):
        raise ValueError(f"previous period for unknown series {sorted(unknown)}")
    data = {k: [_num(v) for v in vs] for k, vs in series.items()}
    prev = {k: [_num(v) for v in vs] for k, vs in previous.items()}
    finite = [v for vs in [*data.values(), *prev.values()] for v in vs if not math.isnan(v)]
    if not dates or not finite:
        return empty_chart(title, subtitle=subtitle)

    ticks = _y_ticks(min(finite), max(finite))
    fmt: ValueFormat = _percent_fmt(finite, 1) if percent else y_fmt
    tick_texts = [format_value(_percent_fmt(ticks, 0) if percent else y_fmt, t) for t in ticks]
    end_texts = {k: _last_text(vs, fmt) for k, vs in data.items()}

    legend = _legend_rows(list(data), bool(prev))
    top = header_px(subtitle) + len(legend) * _LEGEND_ROW_PX + 40
    left = MARGIN_PX + max(text_px(t, TICK_PT) for t in tick_texts) + 14
    right = max([text_px(t, SMALL_PT) for t in end_texts.values()] + [30]) + 12 + MARGIN_PX / 2
    fig = new_figure(top + _PLOT_PX + 96)
    header(fig, title, subtitle)
    _draw_legend(fig, legend, header_px(subtitle), bool(prev))
    plot_w = WIDTH_PX - left - right
    ax = add_axes_px(fig, left, top, plot_w, _PLOT_PX)

    n = len(dates)
    xs = list(range(n))
    for i, (name, values) in enumerate(data.items()):
        colour = PALETTE[i % len(PALETTE)]
        if name in prev:
            ax.plot(
                xs, prev[name], color=colour, linewidth=1.8, linestyle=(0, (4, 2.5)), alpha=0.6, zorder=2, clip_on=False
            )
        # The ticks always enclose the data, so nothing can stray far; unclipped, a point on the top or
        # bottom tick keeps its whole marker.
        ax.plot(
            xs,
            values,
            color=colour,
            linewidth=2.6,
            zorder=3,
            solid_capstyle="round",
            clip_on=False,
            marker="o" if n <= 14 else None,
            markersize=4.5,
        )

    ax.set_xlim(-0.3 if n > 1 else -1, n - 0.7 if n > 1 else 1)
    ax.set_ylim(ticks[0], ticks[-1])
    ax.set_yticks(ticks, tick_texts)
    step = max(1, math.ceil(n / _MAX_XTICKS))
    xticks = list(range(n - 1, -1, -step))[::-1]  # anchored on the latest day
    ax.set_xticks(xticks, [_date_label(dates[i]) for i in xticks])
    ax.tick_params(labelsize=TICK_PT, colors=MUTED, length=0, pad=8)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color(GRID)

    _end_labels(fig, ax, data, end_texts, top, left + plot_w, ticks)
    return to_png(fig)


def _num(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _y_ticks(lo: float, hi: float) -> list[float]:
    """Nice ticks; zero is included unless the data sits high above it (99.2–99.8% accuracy, 11–12k orders)."""
    from matplotlib.ticker import MaxNLocator

    if lo >= 0 and lo < 0.5 * hi:
        lo = 0.0
    if hi == lo:
        lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
    ticks = [float(t) for t in MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)]
    while len(ticks) > 2 and ticks[1] <= lo:
        ticks.pop(0)
    while len(ticks) > 2 and ticks[-2] >= hi:
        ticks.pop()
    return ticks


def _percent_fmt(values: list[float], at_least: int) -> ValueFormat:
    """Enough decimals to tell the values apart: ticks 1% apart need none, 99.2–99.8% needs one more."""
    span = max(values) - min(values)
    decimals = 0 if span >= 0.04 else 1 if span >= 0.004 else 2
    return f"{{:.{max(decimals, at_least)}%}}"


def _last_text(values: list[float], fmt: ValueFormat) -> str:
    last = next((v for v in reversed(values) if not math.isnan(v)), None)
    return "" if last is None else format_value(fmt, last)


def _date_label(d: date | datetime | str) -> str:
    if isinstance(d, (date, datetime)):
        return f"{d.month:02d}-{d.day:02d}"
    return fit(d, 150, TICK_PT)


def _legend_rows(names: list[str], with_previous: bool) -> list[list[str]]:
    entries = [fit(n, 420, LABEL_PT) for n in names] + (["上期（虚线）"] if with_previous else [])
    return flow(entries, _entry_px)


def _entry_px(entry: str) -> float:
    return 60 + text_px(entry, LABEL_PT) + 34


def _draw_legend(fig, rows: list[list[str]], top: float, with_previous: bool) -> None:
    from matplotlib.lines import Line2D

    total = sum(len(r) for r in rows)
    k = 0
    for r, row in enumerate(rows):
        x = MARGIN_PX
        y = top + r * _LEGEND_ROW_PX + _LEGEND_ROW_PX / 2
        for entry in row:
            is_prev = with_previous and k == total - 1
            colour = MUTED if is_prev else PALETTE[k % len(PALETTE)]
            (x0, y0), (x1, _) = px(fig, x, y), px(fig, x + 48, y)
            fig.add_artist(
                Line2D(
                    [x0, x1],
                    [y0, y0],
                    color=colour,
                    transform=fig.transFigure,
                    linewidth=1.8 if is_prev else 3,
                    linestyle=(0, (4, 2.5)) if is_prev else "-",
                )
            )
            fig.text(*px(fig, x + 60, y), entry, fontsize=LABEL_PT, color=INK, va="center_baseline", ha="left")
            x += _entry_px(entry)
            k += 1


def _end_labels(fig, ax, data, texts, top, right_px, ticks) -> None:
    """Latest value at each line's end, nudged apart vertically so they never overlap."""
    lo, hi = ticks[0], ticks[-1]
    spots = []
    for i, (name, values) in enumerate(data.items()):
        last = next((v for v in reversed(values) if not math.isnan(v)), None)
        if last is not None:
            y = top + _PLOT_PX * (1 - (last - lo) / (hi - lo))
            spots.append([y, texts[name], PALETTE[i % len(PALETTE)]])
    spots.sort(key=lambda s: s[0])
    gap = SMALL_PT * PT_PX * 1.25
    for a, b in zip(spots, spots[1:]):
        b[0] = max(b[0], a[0] + gap)
    for y, text, colour in spots:
        fig.text(
            *px(fig, right_px + 12, y),
            text,
            fontsize=SMALL_PT,
            color=colour,
            va="center",
            ha="left",
            fontweight=strong(),
        )
