"""Charts: pure functions from plain data to phone-readable PNG bytes (matplotlib Agg, no pyplot).

Start-up calls `ensure_cjk_font(font_path, cache_dir=…)` once; handlers then `await render_async(ranking_bars,
…, executor=…)` so rendering never blocks the event loop. Every chart is 1080 px wide, deterministic for the
same input, shows "暂无数据" for empty data and stays under WeCom's 2 MB image limit.

Importing this package does not import matplotlib (it must see `MPLCONFIGDIR` first, and it costs ~0.5 s);
the first chart or `ensure_cjk_font` does. No database or aiohttp code lives here.
"""

from orderbot.bot.charts.chain import progress_chain
from orderbot.bot.charts.cloud import word_cloud
from orderbot.bot.charts.fonts import CJKFont, CJKFontNotFound, cjk_font, ensure_cjk_font, prepare_matplotlib
from orderbot.bot.charts.heatmap import scan_heatmap
from orderbot.messaging.png import shrink_png
from orderbot.bot.charts.ranking import ranking_bars
from orderbot.bot.charts.runner import chart_executor, render_async
from orderbot.bot.charts.stacked import stacked_reasons
from orderbot.bot.charts.trend import trend_lines
from orderbot.bot.charts._base import MAX_PNG_BYTES, WIDTH_PX

__all__ = [
    "CJKFont",
    "CJKFontNotFound",
    "MAX_PNG_BYTES",
    "WIDTH_PX",
    "chart_executor",
    "cjk_font",
    "ensure_cjk_font",
    "prepare_matplotlib",
    "progress_chain",
    "ranking_bars",
    "render_async",
    "scan_heatmap",
    "shrink_png",
    "stacked_reasons",
    "trend_lines",
    "word_cloud",
]
