"""`IntentParser`: text + the asker's clock → one `Intent`. Built once at start-up by the composition root."""
from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from orderbot.bot.intents import samples
from orderbot.bot.intents.evidence import Evidence, extract
from orderbot.bot.intents.index import Index, build_index
from orderbot.bot.intents.intent import Intent
from orderbot.bot.intents.scoring import UNKNOWN_FLOOR, confidence, ranked
from orderbot.bot.intents.segment import Segmenter
from orderbot.bot.intents.slots import fill
from orderbot.bot.intents.spec import WRITE_INTENTS
from orderbot.bot.intents.vocabulary import Vocabulary

DEFAULT_TZ = "Asia/Shanghai"


class IntentParser:
    """Parses chat text and speech transcripts into intents (INTENTS.md).

    The constructor does all the slow work (jieba's dictionary, ≈0.7 s, and our words), so the first
    message is as fast as any other. `cache_dir` is where jieba keeps its prefix-dict cache; it may be
    read-only (see `segment`). `tz` is the business time zone all relative dates are computed in.
    """

    def __init__(self, vocabulary: Vocabulary, *, cache_dir: str | os.PathLike[str] | None = None,
                 tz: str = DEFAULT_TZ):
        self.vocabulary = vocabulary
        self.tz = ZoneInfo(tz)
        self._index: Index = build_index(vocabulary)
        self._segmenter = Segmenter(self._index.segmenter_words(), cache_dir)

    @property
    def cache_path(self) -> Path | None:
        """Where jieba's prefix-dict cache lives (None: jieba's default, the system temp directory)."""
        return self._segmenter.cache_path

    def warm_up(self) -> float:
        """Run the built-in sample messages once (regex caches, code paths); returns the seconds it took."""
        started = time.perf_counter()
        now = datetime.now(self.tz)
        for text in samples.MESSAGES:
            self.parse(text, now)
        return time.perf_counter() - started

    def evidence(self, text: str) -> Evidence:
        """What the parser read in `text` (for debugging and tests)."""
        return extract(text, self._index, self._segmenter)

    def parse(self, text: str, now: datetime) -> Intent:
        """One message → one Intent. `now` must be aware; dates are taken in the parser's time zone."""
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("parse() needs an aware datetime for `now`")
        today = now.astimezone(self.tz).date()
        ev = self.evidence(text)
        ranking = ranked(ev.features)
        (best, best_score), (_, second_score) = ranking[0], ranking[1]
        alternatives = tuple(name for name, score in ranking[1:3] if score > 0)
        if best_score < UNKNOWN_FLOOR:
            return Intent.unknown(tuple(name for name, score in ranking[:3] if score > 0))
        slots, missing = fill(best, ev, today)
        conf = confidence(best_score, second_score, len(missing))
        if best in WRITE_INTENTS and len(ev.refs) > 1:
            conf = round(conf * 0.5, 2)  # two orders named for one write: ask which, never pick one
        return Intent(best, slots, conf, missing, alternatives)

    def closest_intents(self, text: str, allowed: set[str] | None = None, k: int = 3) -> list[str]:
        """The `k` intents `text` most resembles, among those the asker may use (for "did you mean…")."""
        ranking = [name for name, score in ranked(self.evidence(text).features, allowed) if score > 0]
        fallback = [n for n in samples.SUGGESTED if (allowed is None or n in allowed) and n not in ranking]
        return (ranking + fallback)[:k]

