"""Text clean-up shared by every extractor: width, case, separators, and numbers written in words.

Everything downstream works on the normalised text, so "ＴＯＰ３", "Top 3" and "top3" look the same to it.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUM_CHARS = "零〇一二两俩三四五六七八九十百千万"
EN_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "a": 1,
    "an": 1,
}
_EN_NUM_WORDS = "|".join(sorted((w for w in EN_NUMBERS if len(w) > 2), key=len, reverse=True))
# one number as people write it: 3, 3.5, 十五, 两, twenty five, twenty-five
NUM = (
    rf"(?:\d+(?:\.\d+)?|[{CN_NUM_CHARS}]+|(?:{_EN_NUM_WORDS})(?:[ -](?:one|two|three|four|five|six|seven|eight|nine))?)"
)

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACES = re.compile(r"\s+")


@cache
def _t2s():
    """OpenCC's traditional → simplified converter (its phrase tables, not a character map), built on first use."""
    import opencc

    return opencc.OpenCC("t2s.json")


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), traditional → simplified, lower case, thousands separators dropped, runs of
    spaces collapsed."""
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = _t2s().convert(text)
    text = text.lower()
    text = _THOUSANDS.sub("", text)
    return _SPACES.sub(" ", text).strip()


def cn_int(s: str) -> int | None:
    """'十五' → 15, '两' → 2, '二十' → 20, '五千' → 5000, '一万二' → 12000; None if `s` is not a numeral."""
    if not s or any(c not in CN_NUM_CHARS for c in s):
        return None
    if "万" in s:
        high, _, low = s.partition("万")
        high_v = cn_int(high) if high else 1
        if high_v is None:
            return None
        low_v = 0
        if low:
            # 一万二 means 12000: a lone trailing digit counts in thousands
            low_v = _CN_DIGITS[low] * 1000 if len(low) == 1 and low in _CN_DIGITS else cn_int(low)
            if low_v is None:
                return None
        return high_v * 10000 + low_v
    total, current = 0, None
    for ch in s:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch] if current is None else current * 10 + _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            total += (1 if current is None else current) * unit
            current = None
    return total + (current or 0)


def to_number(s: str) -> float | None:
    """A number in any of the forms of `NUM`: Arabic, Chinese, English words ('twenty five')."""
    s = s.strip()
    try:
        return float(s)
    except ValueError:
        pass
    v = cn_int(s)
    if v is not None:
        return float(v)
    parts = re.split(r"[ -]", s)
    if all(p in EN_NUMBERS for p in parts):
        return float(sum(EN_NUMBERS[p] for p in parts))
    return None


def to_int(s: str) -> int | None:
    v = to_number(s)
    return None if v is None else int(v)
