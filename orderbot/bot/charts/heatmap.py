"""The last scans of a package side by side: which label fields disagree (the wrong-item warehouse issue)."""

from __future__ import annotations

from collections.abc import Sequence

from orderbot.bot.charts._base import (
    ACCENT,
    INK,
    LABEL_PT,
    MARGIN_PX,
    MUTED,
    SMALL_PT,
    TRACK,
    WIDTH_PX,
    add_axes_px,
    clean,
    empty_chart,
    fit,
    header,
    header_px,
    new_figure,
    strong,
    text_px,
    to_png,
)

MAX_SCANS = 6
_ROW_PX = 92
_HEAD_PX = 100
_FIELD_PX = 190
_GAP = 6


def scan_heatmap(
    title: str,
    rows: Sequence[str],
    fields: Sequence[str],
    matrix: Sequence[Sequence[int]],
    *,
    annotations: Sequence[Sequence[str | None]] | None = None,
    subtitle: str | None = None,
) -> bytes:
    """Scans as columns, label fields down the left; a red cell is a field that scan disagrees on.

    `matrix[i][j]` is 1 when scan `rows[i]` disagrees on `fields[j]`, else 0; `annotations[i][j]` is the value
    that scan read (cut in the middle when long, so both ends of an ID stay visible). Scans are given oldest
    first; beyond six only the latest six are drawn. Without a subtitle, one naming the disagreeing fields
    is written.
    """
    if len(matrix) != len(rows) or any(len(r) != len(fields) for r in matrix):
        raise ValueError(f"matrix must be {len(rows)} rows × {len(fields)} fields")
    if annotations is not None and (len(annotations) != len(rows) or any(len(r) != len(fields) for r in annotations)):
        raise ValueError(f"annotations must be {len(rows)} rows × {len(fields)} fields")
    if not rows or not fields:
        return empty_chart(title, subtitle=subtitle)
    first = max(0, len(rows) - MAX_SCANS)
    scans = list(rows[first:])
    cells = [list(r) for r in matrix[first:]]
    notes = [list(r) for r in annotations[first:]] if annotations is not None else None
    bad = [f for j, f in enumerate(fields) if any(r[j] for r in cells)]
    if subtitle is None:
        subtitle = f"不一致：{'、'.join(bad)}" if bad else "各次扫描全部一致"
    if first:
        subtitle = f"仅显示最近{MAX_SCANS}次（共{len(rows)}次） · {subtitle}"

    top = header_px(subtitle)
    plot_w = WIDTH_PX - 2 * MARGIN_PX
    plot_h = _HEAD_PX + len(fields) * _ROW_PX + 60
    fig = new_figure(top + plot_h + 16)
    header(fig, title, subtitle)
    ax = add_axes_px(fig, MARGIN_PX, top, plot_w, plot_h)
    ax.set_xlim(0, plot_w)
    ax.set_ylim(plot_h, 0)
    ax.set_axis_off()

    from matplotlib.patches import Rectangle

    col_w = (plot_w - _FIELD_PX) / len(scans)
    for i, scan in enumerate(scans):
        x = _FIELD_PX + i * col_w + col_w / 2
        ax.text(
            x,
            _HEAD_PX - 10,
            _two_lines(scan, col_w - 12),
            fontsize=SMALL_PT,
            color=MUTED,
            ha="center",
            va="bottom",
            linespacing=1.15,
            multialignment="center",
        )
    for j, field in enumerate(fields):
        y = _HEAD_PX + j * _ROW_PX
        hot = field in bad
        ax.text(
            0,
            y + _ROW_PX / 2,
            fit(field, _FIELD_PX - 14, LABEL_PT),
            fontsize=LABEL_PT,
            color=ACCENT if hot else INK,
            ha="left",
            va="center_baseline",
            fontweight=strong() if hot else "normal",
        )
        for i in range(len(scans)):
            x = _FIELD_PX + i * col_w
            wrong = bool(cells[i][j])
            ax.add_patch(
                Rectangle(
                    (x + _GAP / 2, y + _GAP / 2),
                    col_w - _GAP,
                    _ROW_PX - _GAP,
                    linewidth=0,
                    color=ACCENT if wrong else TRACK,
                )
            )
            note = notes[i][j] if notes is not None else None
            text = fit(note, col_w - 16, SMALL_PT, middle=True) if note else ("不一致" if wrong else "")
            ax.text(
                x + col_w / 2,
                y + _ROW_PX / 2,
                text,
                fontsize=SMALL_PT,
                ha="center",
                va="center_baseline",
                color="white" if wrong else (INK if note else MUTED),
                fontweight=strong() if wrong else "normal",
            )
    y = _HEAD_PX + len(fields) * _ROW_PX + 34
    ax.add_patch(Rectangle((0, y - 14), 28, 28, color=ACCENT, linewidth=0))
    ax.text(40, y, "不一致", fontsize=SMALL_PT, color=INK, va="center_baseline")
    ax.add_patch(Rectangle((190, y - 14), 28, 28, color=TRACK, linewidth=0))
    ax.text(230, y, "一致", fontsize=SMALL_PT, color=INK, va="center_baseline")
    return to_png(fig)


def _two_lines(text: str, width: float) -> str:
    """A scan heading on at most two lines, broken at a space when there is one ("#3 10:05" / "李娜（组长）")."""
    text = clean(text)
    if text_px(text, SMALL_PT) <= width:
        return text
    head, _, tail = text.rpartition(" ")
    if head and text_px(head, SMALL_PT) <= width:
        return f"{head}\n{fit(tail, width, SMALL_PT)}"
    return fit(text, width, SMALL_PT)
