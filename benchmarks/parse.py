"""Parsing throughput for `orderbot bench`: messages per second after warm-up, one thread."""
from __future__ import annotations

import tempfile
import time
from datetime import datetime, timedelta, timezone
from itertools import cycle, islice

from orderbot.bot.intents import samples
from orderbot.bot.intents.parser import IntentParser
from orderbot.bot.intents.vocabulary import Vocabulary

TARGET_PER_SECOND = 2_000


def bench_parse(n: int = 20_000, parser: IntentParser | None = None,
                texts: tuple[str, ...] = samples.MESSAGES) -> dict:
    """Parse `n` messages round-robin over `texts` and report the rate; the set-up time is reported apart."""
    if n <= 0:
        raise ValueError("n must be positive")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orderbot-jieba-") as cache_dir:
        if parser is None:
            parser = IntentParser(Vocabulary.static(), cache_dir=cache_dir)
        init_seconds = time.perf_counter() - started
        warm_up_seconds = parser.warm_up()
        now = datetime(2026, 2, 10, 9, 0, tzinfo=timezone(timedelta(hours=8)))
        batch = list(islice(cycle(texts), n))
        t0 = time.perf_counter()
        for text in batch:
            parser.parse(text, now)
        seconds = time.perf_counter() - t0
    per_second = n / seconds if seconds > 0 else float("inf")
    return {
        "name": "parse", "messages": n, "seconds": round(seconds, 3), "per_second": round(per_second),
        "us_per_message": round(1e6 * seconds / n, 1), "init_seconds": round(init_seconds, 3),
        "warm_up_seconds": round(warm_up_seconds, 3), "target_per_second": TARGET_PER_SECOND,
        "ok": per_second >= TARGET_PER_SECOND,
    }
