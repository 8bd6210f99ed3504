"""`IntentParser`: text + the asker's clock → one `Intent`. Built once at start-up by the composition root."""

from __future__ import annotations

import os
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from orderbot.bot.intents import samples
from orderbot.bot.intents.evidence import Evidence, extract
from orderbot.bot.intents.index import Index, build_index
from orderbot.bot.intents.intent import Intent
from orderbot.bot.intents.names import CustomerDirectory
from orderbot.bot.intents.polarity import WEAK_INVERSE
from orderbot.bot.intents.scoring import UNKNOWN_FLOOR, WEIGHTS, confidence, ranked
from orderbot.bot.intents.segment import Segmenter
from orderbot.bot.intents.slots import fill
from orderbot.bot.intents.spec import UNKNOWN, WRITE_INTENTS
from orderbot.bot.intents.vocabulary import Vocabulary

DEFAULT_TZ = "Asia/Shanghai"
REPAIR_FACTOR = 0.95  # each speech slip repaired by sound costs a little confidence
WEAK_INVERSE_FACTOR = 0.6  # "不要冻结X" read as 解冻: below the clarification threshold, so the bot asks


class IntentParser:
    """Parses chat text and speech transcripts into intents (INTENTS.md).

    The constructor does all the slow work (jieba's dictionary, ≈0.7 s, and our words), so the first
    message is as fast as any other. `cache_dir` is where jieba keeps its prefix-dict cache; it may be
    read-only (see `segment`). `tz` is the business time zone all relative dates are computed in.
    """

    def __init__(
        self, vocabulary: Vocabulary, *, cache_dir: str | os.PathLike[str] | None = None, tz: str = DEFAULT_TZ
    ):
        self.vocabulary = vocabulary
        self.tz = ZoneInfo(tz)
        self._index: Index = build_index(vocabulary)
        self._segmenter = Segmenter(self._index.segmenter_words(), cache_dir)
        self._customers = CustomerDirectory(vocabulary.customers)

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

    def evidence(self, text: str, repair: bool = True) -> Evidence:
        """What the parser read in `text` (for debugging and tests)."""
        return extract(text, self._index, self._segmenter, repair)

    def _today(self, now: datetime) -> date:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("parse() needs an aware datetime for `now`")
        return now.astimezone(self.tz).date()

    def _read(self, text: str) -> tuple[Evidence, list[tuple[str, float]]]:
        """The evidence and the intent ranking, with speech-slip repairs kept only where they fit."""
        ev = self.evidence(text)
        ranking = ranked(ev.features)
        if ev.repairs and not _repairs_fit(ev, ranking[0][0]):
            ev = self.evidence(text, repair=False)
            ranking = ranked(ev.features)
        return ev, ranking

    def parse(self, text: str, now: datetime) -> Intent:
        """One message → one Intent. `now` must be aware; dates are taken in the parser's time zone."""
        today = self._today(now)
        ev, ranking = self._read(text)
        (best, best_score), (_, second_score) = ranking[0], ranking[1]
        alternatives = tuple(name for name, score in ranking[1:3] if score > 0)
        if best_score < UNKNOWN_FLOOR:
            return Intent.unknown(tuple(name for name, score in ranking[:3] if score > 0))
        return self._intent(best, best_score, second_score, ev, today, alternatives)

    def candidates(self, text: str, now: datetime, k: int = 2) -> list[Intent]:
        """The `k` closest readings of `text`, best first, each a full Intent (slots, confidence): what the
        dispatcher offers as buttons when `parse` is not sure. Readings below the unknown floor are left out,
        so the list may be shorter than `k` (empty when nothing in the text points anywhere)."""
        today = self._today(now)
        ev, ranking = self._read(text)
        out = []
        for i, (name, score) in enumerate(ranking[:k]):
            if score < UNKNOWN_FLOOR:
                break
            others = [s for j, (_, s) in enumerate(ranking) if j != i]
            out.append(self._intent(name, score, max(others), ev, today, ()))
        return out

    def _intent(
        self, name: str, score: float, runner_up: float, ev: Evidence, today: date, alternatives: tuple[str, ...]
    ) -> Intent:
        slots, missing, unknown_names = fill(name, ev, today, self._customers.match)
        conf = confidence(score, runner_up, len(missing))
        if name in WRITE_INTENTS and len(ev.refs) > 1:
            conf = round(conf * 0.5, 2)  # two orders named for one write: ask which, never pick one
        if name in WRITE_INTENTS and WEAK_INVERSE in ev.features:
            conf = round(conf * WEAK_INVERSE_FACTOR, 2)
        if ev.repairs:
            conf = round(conf * REPAIR_FACTOR ** len(ev.repairs), 2)
        return Intent(name, slots, conf, missing, alternatives, unknown_names, bool(ev.repairs))

    def closest_intents(self, text: str, allowed: set[str] | None = None, k: int = 3) -> list[str]:
        """The `k` intents `text` most resembles, among those the asker may use (for "did you mean…")."""
        ranking = [name for name, score in ranked(self._read(text)[0].features, allowed) if score > 0]
        fallback = [n for n in samples.SUGGESTED if (allowed is None or n in allowed) and n not in ranking]
        return (ranking + fallback)[:k]


def _repairs_fit(ev: Evidence, best: str) -> bool:
    """A repair is kept only when the chosen reading uses the repaired word, and never turns a question into
    a write (the dispatcher confirms writes, but a question must stay a question)."""
    if best == UNKNOWN or best not in WEIGHTS:
        return False
    if best in WRITE_INTENTS and "QUESTION" in ev.features:
        return False
    weights = WEIGHTS[best]
    return all(any(weights.get(f, 0) > 0 for f in r.entry.features) for r in ev.repairs)
