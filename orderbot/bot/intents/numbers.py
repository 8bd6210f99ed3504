"""Counted things: ranking sizes (TOP3, 前三, 3个), durations (2小时, 30 minutes, 两天内) and order volumes (5千单).

Each finder returns values with their spans; the parser blanks the spans so one number is never read twice
(the 3 of "TOP3" is not also a count of orders).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orderbot.bot.intents.text import NUM, to_number

_A = r"(?<![a-z])"
_Z = r"(?![a-z])"


@dataclass(frozen=True)
class Quantity:
    value: int
    start: int
    end: int
    within: bool = False  # a duration said as a deadline: "48小时内", "within 2 days"


# --- durations, in minutes -------------------------------------------------------------------------------
_HOURS = r"(?:个)?\s*(?:小时|钟头|个钟|钟)|\s*(?:hours?|hrs?|h)" + _Z
_MINUTES = r"\s*(?:分钟|分)|\s*(?:minutes?|mins?|m)" + _Z
_DAYS = r"(?:个)?\s*(?:天|整天)|\s*days?" + _Z
_WITHIN_AFTER = r"\s*(?:内|之内|以内)"
_DURATION = re.compile(
    rf"(?P<within_before>{_A}within\s+|{_A}in\s+(?:the\s+next\s+)?|{_A}for\s+(?:the\s+next\s+)?)?"
    rf"(?:(?P<half_hour>半\s*(?:个)?\s*(?:小时|钟头)|{_A}half\s+an?\s+hour{_Z}|一刻钟)"
    rf"|(?P<n_half>{NUM})\s*(?:个)?\s*半\s*(?:小时|钟头)"
    rf"|(?P<n>{NUM}|{_A}an?(?=\s))\s*(?P<unit>{_HOURS}|{_MINUTES}|{_DAYS}))"
    rf"(?P<within_after>{_WITHIN_AFTER})?"
)


def find_durations(text: str) -> list[Quantity]:
    """'2小时' → 120, '一个半小时' → 90, 'for 30 minutes' → 30, '两天内' → 2880 (within)."""
    out = []
    for m in _DURATION.finditer(text):
        within = bool(m["within_after"] or (m["within_before"] or "").strip().startswith(("within", "in")))
        if m["half_hour"]:
            minutes = 15 if m["half_hour"] == "一刻钟" else 30
        elif m["n_half"]:
            n = to_number(m["n_half"])
            if n is None:
                continue
            minutes = int(n * 60 + 30)
        else:
            n = 1.0 if m["n"].strip() in ("a", "an") else to_number(m["n"])
            unit = m["unit"].strip().lstrip("个").strip()
            if n is None or n <= 0:
                continue
            if unit.startswith(("小时", "钟", "个钟", "h")):
                minutes = int(n * 60)
            elif unit.startswith(("分", "m")):
                minutes = int(n)
            else:
                minutes = int(n * 1440)
        out.append(Quantity(minutes, m.start(), m.end(), within))
    return out


# --- order volumes ---------------------------------------------------------------------------------------
_MULT = {"千": 1000, "k": 1000, "万": 10000, "w": 10000}
_ORDERS = re.compile(
    rf"(?P<n>{NUM})\s*(?P<mult>千|万|k|w)?\s*"
    rf"(?:(?:个|张|笔)?\s*(?:订单|单)|{_A}(?:more\s+|extra\s+|additional\s+|new\s+)?orders?{_Z})"
)


def find_order_volumes(text: str) -> list[Quantity]:
    """'涌入5000单' → 5000, '5千单'/'五千单' → 5000, '2w单' → 20000, '8000 more orders' → 8000."""
    out = []
    for m in _ORDERS.finditer(text):
        n = to_number(m["n"])
        if n is None:
            continue
        value = int(n * _MULT.get(m["mult"] or "", 1))
        if value > 0:
            out.append(Quantity(value, m.start(), m.end()))
    return out


# --- ranking sizes ---------------------------------------------------------------------------------------
_RANK = re.compile(
    rf"{_A}(?:the\s+)?top\s*-?\s*(?P<top>{NUM})"
    rf"|前\s*(?P<front>{NUM})\s*(?:名|位|个|大|家|条|项|种)?"
    rf"|(?P<counted>{NUM})\s*(?:个|家|名|位|条|项|大|种|款)(?!小时|钟|月|星期|礼拜|工作日|天|周)"
    rf"|(?P<en>{NUM})\s+(?:(?:most|worst|biggest|top|main)\s+)?(?:[a-z]+\s+)?"
    rf"(?:customers|clients|accounts|buyers|skus|reasons|causes|products|items){_Z}"
)


def find_rankings(text: str) -> list[Quantity]:
    """'TOP3', 'top-3', 'top 3', 'the top three', '前三', '前3名', '三个', '3个', '5 customers' → the number."""
    out = []
    for m in _RANK.finditer(text):
        raw = m["top"] or m["front"] or m["counted"] or m["en"]
        n = to_number(raw)
        if n is None or n < 1 or n != int(n):
            continue
        out.append(Quantity(int(n), m.start(), m.end()))
    return out


# Arabic numbers, or Chinese ones only with 千/万: a lone 三 is as likely part of a name (张三) as a number
_BARE = re.compile(
    r"(?P<n>\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百]*[千万][零〇一二两三四五六七八九十百千万]*)"
    r"\s*(?P<mult>千|万|k|w)?(?![a-z])"
)


def find_bare_numbers(text: str) -> list[Quantity]:
    """Numbers left over once everything else is taken ("如果来5000" has no 单). Not blanked by the caller."""
    out = []
    for m in _BARE.finditer(text):
        n = to_number(m["n"])
        if n is not None:
            out.append(Quantity(int(n * _MULT.get(m["mult"] or "", 1)), m.start(), m.end()))
    return out
