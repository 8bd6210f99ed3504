"""Speech-to-text slips repaired by sound: a stretch of text the parser does not know that has the pinyin of a
domain word (tones ignored) is read as that word (划南 → 华南, 沿迟 → 延迟, 取销率 → 取消率, 亚马讯 → 亚马逊).

The domain words are the lexicon's (regions, provinces, channels, cue words, metrics, rules) and the
vocabulary's (customers, staff, product names). Only text that matched no word at all is tried, never a real
word of the dictionary, and a key two different words share is dropped. Whether the repaired word fits the
message is the parser's call (it keeps a repair only where the chosen intent uses the word, and never lets a
repair turn a question into a write).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orderbot.bot.intents.index import Entry

_CJK = re.compile(r"^[\u4e00-\u9fff]+$")
MIN_LEN, MAX_LEN = 2, 6
_MAX_READINGS = 8  # heteronym combinations tried per window


@lru_cache(maxsize=65536)
def readings(ch: str) -> tuple[str, ...]:
    """Every toneless reading of one character ("重" → zhong, chong)."""
    from pypinyin import Style, pinyin

    return tuple(dict.fromkeys(pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")[0] or [ch]))


def word_key(word: str) -> tuple[str, ...]:
    """The toneless pinyin of a word, read as a phrase (重庆 → chong qing)."""
    from pypinyin import Style, lazy_pinyin

    return tuple(lazy_pinyin(word, style=Style.NORMAL))


@dataclass(frozen=True)
class Repair:
    start: int
    end: int
    heard: str
    meant: str
    entry: Entry


class SlipTable:
    """pinyin key → (domain word, its index entry); built once per parser."""

    def __init__(self, words: Iterable[tuple[str, Entry]]):
        table: dict[tuple[str, ...], tuple[str, Entry] | None] = {}
        for word, entry in words:
            if not (MIN_LEN <= len(word) <= MAX_LEN and _CJK.match(word)):
                continue
            key = word_key(word)
            if len(key) != len(word):
                continue
            if key in table and (table[key] is None or table[key][0] != word):
                table[key] = None  # two words sound alike: no repair can choose between them
            else:
                table[key] = (word, entry)
        self._table = {k: v for k, v in table.items() if v is not None}
        self._first = {k[0] for k in self._table}

    def __len__(self) -> int:
        return len(self._table)

    def repair(self, text: str, unknown: list[tuple[str, int]], is_word: Callable[[str], bool]) -> list[Repair]:
        """Repairs inside the stretches of `text` made only of unknown tokens, longest first, left to right."""
        out: list[Repair] = []
        for start, end in _runs(unknown):
            i = start
            while i < end - MIN_LEN + 1:
                found = None
                for length in range(min(MAX_LEN, end - i), MIN_LEN - 1, -1):
                    window = text[i : i + length]
                    if not _CJK.match(window) or is_word(window):
                        continue
                    hit = self._lookup(window)
                    if hit and hit[0] != window:
                        found = Repair(i, i + length, window, hit[0], hit[1])
                        break
                if found:
                    out.append(found)
                    i = found.end
                else:
                    i += 1
        return out

    def _lookup(self, window: str) -> tuple[str, Entry] | None:
        first = readings(window[0])
        if not any(r in self._first for r in first):
            return None
        options = [first] + [readings(ch) for ch in window[1:]]
        for key in itertools.islice(itertools.product(*options), _MAX_READINGS):
            hit = self._table.get(key)
            if hit:
                return hit
        return None


def _runs(unknown: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """Contiguous stretches covered by unknown CJK tokens."""
    runs: list[list[int]] = []
    for token, start in unknown:
        if not _CJK.match(token):
            continue
        if runs and runs[-1][1] == start:
            runs[-1][1] = start + len(token)
        else:
            runs.append([start, start + len(token)])
    return [(a, b) for a, b in runs if b - a >= MIN_LEN]
