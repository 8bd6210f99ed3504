"""`bench_charts()`: render time and PNG size of every chart on realistic data (for `orderbot bench`)."""

from __future__ import annotations

import io
import statistics
import time

from orderbot.bot.charts.fonts import ensure_cjk_font
from orderbot.bot.charts.samples import samples

TARGET_MEDIAN_MS = 250.0
MAX_PNG_BYTES = 2_000_000


def bench_charts(repeat: int = 15) -> list[dict]:
    """One row per chart: first, median and worst wall-clock render time in ms, median CPU time (steadier on a
    busy machine), PNG bytes and pixel size, and whether it meets the targets (median under 250 ms, PNG under
    2 MB). The first render of the first chart includes warming matplotlib's caches."""
    from PIL import Image

    font = ensure_cjk_font()
    rows = []
    for sample in samples():
        times, cpu = [], []
        png = b""
        for _ in range(repeat + 1):
            start, start_cpu = time.perf_counter(), time.process_time()
            png = sample.render()
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        with Image.open(io.BytesIO(png)) as image:
            width, height = image.size
        median = statistics.median(times[1:])
        rows.append(
            {
                "chart": sample.name,
                "first_ms": round(times[0], 1),
                "median_ms": round(median, 1),
                "max_ms": round(max(times[1:]), 1),
                "cpu_median_ms": round(statistics.median(cpu[1:]), 1),
                "png_bytes": len(png),
                "width": width,
                "height": height,
                "font": font,
                "ok": median < TARGET_MEDIAN_MS and len(png) < MAX_PNG_BYTES,
            }
        )
    return rows
