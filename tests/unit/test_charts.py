"""Charts: every chart renders readable Chinese on a machine with no system CJK font, deterministically,
within WeCom's 2 MB, and never on the event loop."""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import sys
import textwrap
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image

from benchmarks.charts import bench_charts
from orderbot.bot.charts import (
    MAX_PNG_BYTES,
    WIDTH_PX,
    CJKFontNotFound,
    chart_executor,
    cjk_font,
    ensure_cjk_font,
    progress_chain,
    ranking_bars,
    render_async,
    scan_heatmap,
    shrink_png,
    stacked_reasons,
    trend_lines,
    word_cloud,
)
from orderbot.bot.charts._base import BACKGROUND, PALETTE, empty_chart, fit, text_px, LABEL_PT, SMALL_PT
from orderbot.bot.charts.fonts import OPEN_CJK_FAMILIES, find_cjk_font
from orderbot.bot.charts.samples import FULFILMENT_STAGES, samples

SAMPLES = {s.name: s for s in samples()}
# Text the charts write themselves, besides the caller's data.
FIXED_TEXT = "暂无数据仅显示前名（共项）·其他上期虚线不一致最近次各扫描全部履约进度卡住✓—…%,.-0123456789"


@pytest.fixture(scope="module", autouse=True)
def chart_font(tmp_path_factory):
    """What the app does at start-up: a writable matplotlib cache folder, then the font."""
    ensure_cjk_font(cache_dir=tmp_path_factory.mktemp("mplconfig"))
    return cjk_font()


def _render(fn, *args, **kwargs) -> tuple[bytes, list[str]]:
    """Render and return the PNG with every warning raised meanwhile (matplotlib's missing-glyph ones too)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = fn(*args, **kwargs)
    return png, [str(w.message) for w in caught]


def _open(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image.convert("RGB")


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _cmap(font) -> set[int]:
    kwargs = {"fontNumber": font.index} if font.path.suffix.lower() in (".ttc", ".otc") else {}
    with TTFont(font.path, lazy=True, **kwargs) as tt:
        return set(tt.getBestCmap())


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


# --- the font -------------------------------------------------------------------------------------------------


def test_font_is_open_licensed_cjk_and_registered(chart_font):
    from matplotlib import font_manager

    assert chart_font.family in OPEN_CJK_FAMILIES
    kwargs = {"fontNumber": chart_font.index} if chart_font.path.suffix.lower() == ".ttc" else {}
    with TTFont(chart_font.path, lazy=True, **kwargs) as tt:
        names = tt["name"]
        assert names.getDebugName(1) == chart_font.family
        licence = names.getDebugName(13) or ""
    assert "Open Font License" in licence or "Apache License" in licence
    assert "simhei" not in chart_font.path.name.lower()
    found = font_manager.findfont(font_manager.FontProperties(family=chart_font.family), fallback_to_default=False)
    assert Path(found).resolve() == chart_font.path.resolve()
    assert getattr(found, "face_index", 0) == chart_font.index  # the Simplified Chinese face of a collection


def test_pip_installed_font_works_without_system_fonts():
    """The guaranteed fallback: with no system font, the font shipped on PyPI is found."""
    font = find_cjk_font(system_files=(), search_matplotlib=False)
    assert font.source.startswith("package:")
    assert font.family in OPEN_CJK_FAMILIES
    assert font.covers("华东区昨日延迟客户订单号批次校验码取消原因")


def test_a_system_font_comes_before_the_package(tmp_path):
    packaged = find_cjk_font(system_files=(), search_matplotlib=False)
    system_copy = tmp_path / "usr/share/fonts/opentype/noto" / packaged.path.name
    system_copy.parent.mkdir(parents=True)
    system_copy.symlink_to(packaged.path)
    absent = (str(tmp_path / "wqy-microhei.ttc"), 0, "WenQuanYi Micro Hei", "system:fonts-wqy-microhei")
    present = (str(system_copy), packaged.index, packaged.family, "system:test")
    font = find_cjk_font(system_files=[absent, present], search_matplotlib=False)
    assert (font.path, font.source) == (system_copy, "system:test")


def test_proprietary_font_is_refused_even_when_configured(tmp_path):
    from matplotlib import font_manager

    with TTFont(font_manager.findfont("DejaVu Sans")) as tt:
        for record in tt["name"].names:
            if record.nameID in (1, 4, 16):
                record.string = "SimHei"
        tt.save(tmp_path / "simhei.ttf")
    with pytest.raises(CJKFontNotFound, match="proprietary"):
        find_cjk_font(tmp_path / "simhei.ttf")
    with pytest.raises(CJKFontNotFound, match="does not exist"):
        find_cjk_font(tmp_path / "missing.ttf")


def test_ensure_is_idempotent(chart_font):
    assert ensure_cjk_font() == chart_font.family
    assert ensure_cjk_font("/nonexistent/font.ttf") == chart_font.family  # later calls keep the first choice


# --- every chart on realistic data ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_chart_renders_readable_png(name, chart_font):
    sample = SAMPLES[name]
    png, caught = _render(sample.render)
    assert not [m for m in caught if "missing from font" in m]
    assert caught == []
    assert len(png) < MAX_PNG_BYTES
    image = _open(png)
    assert image.width == WIDTH_PX
    assert 400 <= image.height <= 2400
    colours = image.getcolors(maxcolors=1 << 20)
    background = _hex_rgb(BACKGROUND)
    ink = sum(n for n, c in colours if c != background)
    assert ink > 0.03 * image.width * image.height, "the chart is (nearly) blank"
    solid = {c for n, c in colours if n >= 400 and c != background}
    assert len(solid) >= 3, f"expected several solid colours, got {solid}"
    # Every character of every label is in the chosen font itself (not left to a fallback).
    text = "".join(_strings(sample.args) + _strings(sample.kwargs)) + FIXED_TEXT
    cmap = _cmap(chart_font)
    missing = {ch for ch in text if ord(ch) not in cmap and not ch.isspace()}
    assert not missing


def test_ranking_bars_draws_bars_in_palette_and_highlight():
    image = _open(SAMPLES["ranking_bars"].render())
    counts = dict((c, n) for n, c in image.getcolors(maxcolors=1 << 20))
    assert counts.get(_hex_rgb(PALETTE[0]), 0) > 5_000
    assert counts.get(_hex_rgb("#d1242f"), 0) > 2_000  # the highlighted customer


def test_height_grows_with_rows_and_is_capped():
    heights = [
        _open(ranking_bars("延迟客户", [f"客户{i}" for i in range(n)], list(range(n, 0, -1)))).height
        for n in (3, 10, 20, 40)
    ]
    assert heights[0] < heights[1] < heights[2]
    assert heights[2] <= heights[3] <= heights[2] + 60  # 20 bars, plus the "仅显示前20名" note line


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_input_same_bytes(name):
    assert SAMPLES[name].render() == SAMPLES[name].render()


@pytest.mark.slow
def test_threads_render_the_same_bytes_as_serial():
    serial = {name: s.render() for name, s in SAMPLES.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(s.render) for name, s in list(SAMPLES.items()) * 2}
        parallel = {name: f.result() for name, f in futures.items()}
    assert parallel == serial


# --- empty, odd and long input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, args",
    [
        (ranking_bars, ("延迟客户", [], [])),
        (trend_lines, ("订单趋势", [], {})),
        (trend_lines, ("订单趋势", ["02-08", "02-09"], {"订单量": [None, None]})),
        (stacked_reasons, ("延迟原因", [], {})),
        (stacked_reasons, ("延迟原因", ["深圳-纽约"], {"港口拥堵": [0]})),
        (scan_heatmap, ("扫描比对", [], [], [])),
        (word_cloud, ("取消原因", {})),
        (word_cloud, ("取消原因", {"😡": 3, "不想要了": 0})),
    ],
)
def test_empty_data_gives_the_no_data_chart(fn, args):
    png, caught = _render(fn, *args)
    assert caught == []
    assert png == empty_chart(args[0])
    assert _open(png).width == WIDTH_PX


def test_progress_chain_without_stages_is_the_no_data_chart():
    assert progress_chain([], 0) == empty_chart("履约进度")


def test_mismatched_input_is_a_clear_error():
    with pytest.raises(ValueError, match="labels"):
        ranking_bars("t", ["a", "b"], [1])
    with pytest.raises(ValueError, match="3 values for 2 dates"):
        trend_lines("t", ["d1", "d2"], {"订单": [1, 2, 3]})
    with pytest.raises(ValueError, match="unknown series"):
        trend_lines("t", ["d1"], {"订单": [1]}, previous={"发货": [1]})
    with pytest.raises(ValueError, match="counts"):
        stacked_reasons("t", ["a"], {"r": [1, 2]})
    with pytest.raises(ValueError, match="rows"):
        scan_heatmap("t", ["s1"], ["f1", "f2"], [[0]])
    with pytest.raises(ValueError, match="current_index"):
        progress_chain(list(FULFILMENT_STAGES), 11)


def test_long_labels_emoji_and_dollar_signs_render_without_warnings():
    name = "上海优品跨境电子商务有限公司（浦东新区外高桥保税区第三分仓）" * 3
    png, caught = _render(
        ranking_bars,
        "一个超长的标题" * 10,
        [name, "🌸花花小铺", "$9.9 包邮 (含税$)", "\u200b\x07"],
        [12, 9, 3, 1],
        subtitle="副标题" * 30,
    )
    assert caught == []
    assert _open(png).width == WIDTH_PX
    png, caught = _render(stacked_reasons, "原因", [name] * 3, {name: [1, 2, 3], "天气🌧": [3, 2, 1]})
    assert caught == []
    png, caught = _render(
        scan_heatmap,
        "扫描",
        [name] * 3,
        ["订单号", name],
        [[0, 1]] * 3,
        annotations=[["SO" + "1234567890" * 5, "🙂"]] * 3,
    )
    assert caught == []


def test_fit_cuts_to_width_keeping_ends_of_ids():
    cut = fit("SO2602090001234567890123", 200, SMALL_PT, middle=True)
    assert "…" in cut and cut.startswith("SO26") and cut.endswith("123")
    assert text_px(cut, SMALL_PT) <= 200
    cut = fit("上海优品跨境电子商务有限公司", 250, LABEL_PT)
    assert cut.endswith("…") and text_px(cut, LABEL_PT) <= 250
    assert fit("杭州小禾家居", 1000, LABEL_PT) == "杭州小禾家居"


def test_many_reasons_fold_into_other_and_many_scans_keep_the_latest():
    reasons = {f"原因{k}": [k + 1, k] for k in range(10)}
    png, caught = _render(stacked_reasons, "原因", ["1日", "2日"], reasons)
    assert caught == [] and _open(png).width == WIDTH_PX
    rows = [f"#{i}" for i in range(9)]
    png, caught = _render(scan_heatmap, "扫描", rows, ["SKU"], [[i % 2] for i in range(9)])
    assert caught == [] and _open(png).width == WIDTH_PX


# --- size limit -------------------------------------------------------------------------------------------------


def _noise_png(side: int) -> bytes:
    rng = random.Random(7)
    image = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_shrink_png_gets_a_large_png_under_the_limit():
    big = _noise_png(700)
    assert len(big) > 1_400_000
    small = shrink_png(big, 300_000)
    assert len(small) <= 300_000
    assert shrink_png(big, 300_000) == small  # deterministic
    image = _open(small)
    assert 64 <= image.width < 700 and image.width == image.height


def test_shrink_png_keeps_small_pngs_and_refuses_impossible_limits():
    png = SAMPLES["progress_chain"].render()
    assert shrink_png(png, MAX_PNG_BYTES) is png
    smaller = shrink_png(png, len(png) // 2)  # palette alone is enough for a chart
    assert len(smaller) <= len(png) // 2 and _open(smaller).size == _open(png).size
    with pytest.raises(ValueError):
        shrink_png(png, 100)


# --- off the event loop --------------------------------------------------------------------------------------------


async def test_render_async_runs_in_the_executor_not_on_the_loop():
    loop_thread = threading.get_ident()
    seen = []

    def chart(*args, **kwargs):
        seen.append(threading.get_ident())
        return ranking_bars(*args, **kwargs)

    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    executor = chart_executor()
    try:
        png = await render_async(
            chart, "延迟客户", ["杭州小禾家居", "苏州花花小铺"], [21, 9], executor=executor, value_fmt="{:,.0f} 单"
        )
        default_pool = await render_async(
            ranking_bars, "延迟客户", ["杭州小禾家居", "苏州花花小铺"], [21, 9], value_fmt="{:,.0f} 单"
        )
    finally:
        tick_task.cancel()
        executor.shutdown()
    assert (
        png
        == default_pool
        == ranking_bars("延迟客户", ["杭州小禾家居", "苏州花花小铺"], [21, 9], value_fmt="{:,.0f} 单")
    )
    assert seen and seen[0] != loop_thread
    assert ticks >= 1  # the loop kept running while the chart rendered


# --- environment: a read-only home, import weight ------------------------------------------------------------------


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "XDG_"))}
    env["HOME"] = str(home)
    return env


@pytest.mark.slow  # two interpreters importing matplotlib: ~2 s
def test_unwritable_home_with_cache_dir_gives_no_warning(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    env = _clean_env(blocker / "home")  # mkdir under a file fails, even for root
    cache = tmp_path / "cache" / "matplotlib"
    code = f"""
        from orderbot.bot.charts import ensure_cjk_font, ranking_bars
        ensure_cjk_font(cache_dir={str(cache)!r})
        assert ranking_bars("延迟客户", ["杭州小禾家居"], [3]).startswith(b"\\x89PNG")
    """
    done = _python(code, env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert list(cache.glob("fontlist-*.json"))
    # Control: without a cache folder matplotlib complains, so the check above means something.
    control = _python("import orderbot.bot.charts as c; c.ensure_cjk_font()", env)
    assert control.returncode == 0, control.stderr
    assert "Matplotlib created a temporary cache directory" in control.stderr


def test_importing_charts_loads_no_matplotlib_database_or_web_code(tmp_path):
    code = """
        import sys
        import orderbot.bot.charts
        heavy = {"matplotlib", "sqlalchemy", "aiohttp", "wordcloud", "numpy"} & set(sys.modules)
        assert not heavy, heavy
    """
    done = _python(code, _clean_env(tmp_path))
    assert done.returncode == 0, done.stderr


# --- bench ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_bench_reports_every_chart():
    rows = bench_charts(repeat=2)
    assert [r["chart"] for r in rows] == [s.name for s in samples()]
    for row in rows:
        assert row["png_bytes"] < MAX_PNG_BYTES and row["width"] == WIDTH_PX
        assert 0 < row["median_ms"] < 2_000  # a sanity bound; the 250 ms target is reported by `orderbot bench`
