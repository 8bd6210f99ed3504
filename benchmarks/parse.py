"""Parsing throughput for `orderbot bench`: messages per second after warm-up, one thread, with the vocabulary of
a large company (20,000 customers named the way the seed names them, its products, 200 staff)."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from itertools import cycle, islice

from orderbot.bot.intents import samples
from orderbot.bot.intents.parser import IntentParser
from orderbot.bot.intents.vocabulary import Vocabulary

TARGET_PER_SECOND = 2_000
CUSTOMERS = 20_000
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"


def large_vocabulary(customers: int = CUSTOMERS, seed: int = 7) -> Vocabulary:
    """A synthetic master-data vocabulary of the 1M-order seed's size: customer names built like the seed's
    (city + two syllables + suffix), every seed product, and 200 staff."""
    from orderbot.tools.seed import CITIES, NAME_SUFFIXES, NAME_SYLLABLES, PRODUCTS

    rng = random.Random(seed)
    cities = [c for cs in CITIES.values() for c in cs]
    names: dict[str, None] = {}
    while len(names) < customers:
        names[
            rng.choice(cities) + rng.choice(NAME_SYLLABLES) + rng.choice(NAME_SYLLABLES) + rng.choice(NAME_SUFFIXES)
        ] = None
    staff = {}
    while len(staff) < 200:
        name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2))))
        staff.setdefault(name, f"staff{len(staff):03d}")
    return Vocabulary(
        customers=tuple(names),
        products=tuple((p[0], p[1]) for p in PRODUCTS),
        staff=tuple((sid, name) for name, sid in staff.items()),
    )


def bench_parse(n: int = 20_000, parser: IntentParser | None = None, texts: tuple[str, ...] = samples.MESSAGES) -> dict:
    """Parse `n` messages round-robin over `texts` and report the rate; the set-up time (building the parser
    over `large_vocabulary()`) is reported apart."""
    if n <= 0:
        raise ValueError("n must be positive")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="orderbot-jieba-") as cache_dir:
        if parser is None:
            parser = IntentParser(large_vocabulary(), cache_dir=cache_dir)
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
        "name": "parse",
        "messages": n,
        "customers": len(parser.vocabulary.customers),
        "seconds": round(seconds, 3),
        "per_second": round(per_second),
        "us_per_message": round(1e6 * seconds / n, 1),
        "init_seconds": round(init_seconds, 3),
        "warm_up_seconds": round(warm_up_seconds, 3),
        "target_per_second": TARGET_PER_SECOND,
        "ok": per_second >= TARGET_PER_SECOND,
    }
