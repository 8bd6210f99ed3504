"""jieba as a server needs it: cache in the given directory, read-only places work, quiet, warning-free."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from orderbot.bot.intents.segment import CACHE_FILE, Segmenter, import_jieba

from tests.intents.support import make_parser

NOW = datetime.fromisoformat("2026-02-10T09:00:00+08:00")


@pytest.mark.slow
def test_cache_goes_to_cache_dir_and_is_reused(tmp_path, capfd):
    cache_dir = tmp_path / "jieba"
    parser = make_parser(cache_dir)
    cache = cache_dir / CACHE_FILE
    assert parser.cache_path == cache and cache.is_file() and cache.stat().st_size > 1_000_000
    stamp = cache.stat().st_mtime_ns
    again = make_parser(cache_dir)
    assert cache.stat().st_mtime_ns == stamp  # loaded, not rebuilt
    assert again.parse("日报", NOW).name == "report.daily"
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no "Building prefix dict…" on stderr, nothing on stdout


@pytest.mark.slow
def test_unwritable_cache_dir_still_initialises(capfd, caplog):
    # /proc refuses new entries even to root, so this holds whoever runs the tests
    parser = make_parser(Path("/proc/orderbot-no-such-dir/jieba"))
    assert parser.parse("查看华东区昨日延迟TOP3客户", NOW).slots["region"] == "华东"
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # jieba's "Dump cache file failed" traceback is suppressed…
    assert "not writable" in caplog.text  # …and we say it once, in our own log


@pytest.mark.slow
def test_prebuilt_cache_in_a_read_only_dir_is_loaded_without_writing(tmp_path):
    cache_dir = tmp_path / "ro"
    make_parser(cache_dir)  # the image build step
    before = {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    cache_dir.chmod(0o555)
    try:
        parser = make_parser(cache_dir)
        assert parser.parse("冻结TikTok渠道", NOW).slots["channel"] == "tiktok"
        assert {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == before
    finally:
        cache_dir.chmod(0o755)


@pytest.mark.slow
def test_segmenter_keeps_our_words_whole(tmp_path):
    seg = Segmenter(["华东区", "取消率", "退货未入库", "解除卡关"], tmp_path)
    assert [t for t, _ in seg.cut("静默退货未入库告警 解除卡关 华东区 取消率")] == [
        "静默",
        "退货未入库",
        "告警",
        "解除卡关",
        "华东区",
        "取消率",
    ]


@pytest.mark.slow
def test_import_is_warning_free_under_w_error_even_without_bytecode(tmp_path):
    """jieba 0.42.1's invalid escapes warn when its .py files are compiled, which -W error turns into a
    SyntaxError. Copy jieba without __pycache__, forbid writing bytecode, and import it both ways."""
    jieba_dir = Path(import_jieba().__file__).parent
    site = tmp_path / "site"
    shutil.copytree(jieba_dir, site / "jieba", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {
        **os.environ,
        "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    guarded = (
        "from orderbot.bot.intents.segment import import_jieba; import sys; j = import_jieba(); "
        f"assert j.__file__.startswith({str(site)!r}), j.__file__; print('ok')"
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", guarded], env=env, capture_output=True, text=True, timeout=120
    )
    assert (run.returncode, run.stdout.strip(), run.stderr) == (0, "ok", "")
    plain = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import jieba"], env=env, capture_output=True, text=True, timeout=120
    )
    assert plain.returncode != 0 and "invalid escape sequence" in plain.stderr  # why the guard exists


@pytest.mark.slow
@pytest.mark.parametrize("module", ["orderbot.bot.intents"])
def test_importing_the_package_creates_nothing(module):
    """No parser, tokenizer or jieba import at import time: the composition root builds the parser."""
    code = f"import sys, {module}; print('jieba' in sys.modules)"
    run = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout.strip()) == (0, "False")
