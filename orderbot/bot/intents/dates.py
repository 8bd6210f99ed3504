"""Date phrases → inclusive ISO ranges, in the asker's local calendar (INTENTS.md "Normalisation").

A phrase is found first and resolved later, because an explicit date without a year ("2月3日", "Feb 3") goes
to the past for a report and to the future for a promised delivery date, and only the intent knows which.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from orderbot.bot.intents.text import CN_NUM_CHARS, NUM, to_int

Range = tuple[date, date]
Resolver = Callable[[date, bool], "Range | None"]  # (today, future) → range, None when the date does not exist

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTHS["sept"] = 9
_MONTH = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
_WEEKDAYS_CN = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}
_WEEKDAYS_EN = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_D = rf"(\d{{1,2}}|[{CN_NUM_CHARS}]{{1,3}})"  # a month or day number, digits or Chinese
_A = r"(?<![a-z])"  # ASCII-only "word start": CJK neighbours are fine, "\b" is not (see ids.py)
_Z = r"(?![a-z])"


@dataclass(frozen=True)
class DateMention:
    start: int
    end: int
    resolve: Resolver
    explicit: bool = False  # names a calendar day (can start a "X 到 Y" range)


def _day(offset: int) -> Resolver:
    return lambda today, future: (today + timedelta(days=offset),) * 2


def _last_days(n: int) -> Resolver:
    return lambda today, future: (today - timedelta(days=max(n, 1) - 1), today)


def _this_week(today: date, future: bool) -> Range:
    return today - timedelta(days=today.weekday()), today


def _last_week(today: date, future: bool) -> Range:
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def _this_month(today: date, future: bool) -> Range:
    return today.replace(day=1), today


def _last_month(today: date, future: bool) -> Range:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def _weekday(which: str | None, wd: int) -> Resolver:
    def resolve(today: date, future: bool) -> Range:
        monday = today - timedelta(days=today.weekday())
        if which in ("上", "last"):
            d = monday - timedelta(days=7 - wd)
        elif which in ("下", "next"):
            d = monday + timedelta(days=7 + wd)
        elif which in ("这", "本", "this"):
            d = monday + timedelta(days=wd)
        elif future:  # "周五" said about a delivery: the coming one, never today
            d = today + timedelta(days=(wd - today.weekday() - 1) % 7 + 1)
        else:  # in a report: the latest one, today included
            d = today - timedelta(days=(today.weekday() - wd) % 7)
        return d, d

    return resolve


def _safe(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _month_day(month: int | None, day: int | None) -> Resolver | None:
    """The nearest such date in the intent's direction (today counts in both directions)."""
    if not (month and day and 1 <= month <= 12 and 1 <= day <= 31):
        return None

    def resolve(today: date, future: bool) -> Range | None:
        step = 1 if future else -1
        for k in range(0, 5 * step, step):  # 5 years reaches every 29 February
            d = _safe(today.year + k, month, day)
            if d and (d >= today if future else d <= today):
                return d, d
        return None

    return resolve


def _day_of_month(day: int) -> Resolver:
    def resolve(today: date, future: bool) -> Range | None:
        y, m = today.year, today.month
        for _ in range(3):
            d = _safe(y, m, day)
            if d and (d >= today if future else d <= today):
                return d, d
            y, m = (y + (m // 12), m % 12 + 1) if future else (y - (m == 1), (m - 2) % 12 + 1)
        return None

    return resolve


def _fixed(y: int, m: int, d: int) -> Resolver:
    day = _safe(y, m, d)
    return lambda today, future: (day, day) if day else None


def _n(s: str | None, default: int = 1) -> int:
    if not s:
        return default
    if s.strip() in ("半", "half a", "half"):
        return 0
    v = to_int(s)
    return default if v is None else v


# (pattern, builder(match) → Resolver | None, explicit). Order matters: longer and more specific first.
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Resolver | None], bool]] = []


def _rule(pattern: str, explicit: bool = False):
    def register(fn):
        _RULES.append((re.compile(pattern), fn, explicit))
        return fn

    return register


@_rule(r"(20\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?", explicit=True)
def _ymd(m):
    return _fixed(int(m[1]), int(m[2]), int(m[3]))


@_rule(rf"{_D}\s*月\s*{_D}\s*(?:日|号)?", explicit=True)
def _cn_md(m):
    return _month_day(to_int(m[1]), to_int(m[2]))


@_rule(r"(?<![\d/.])(\d{1,2})/(\d{1,2})(?![\d/])", explicit=True)
def _slash_md(m):
    return _month_day(int(m[1]), int(m[2]))


@_rule(rf"{_A}{_MONTH}\s*(\d{{1,2}})(?:st|nd|rd|th)?{_Z}(?!\s*(?:hours?|days?|mins?|minutes?|orders?))", explicit=True)
def _en_md(m):
    return _month_day(_MONTHS[m[1][:3]], int(m[2]))


@_rule(rf"(?<![\d])(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:of\s*)?{_MONTH}{_Z}", explicit=True)
def _en_dm(m):
    return _month_day(_MONTHS[m[2][:3]], int(m[1]))


# Named days, each an offset from today (大后天 before 后天, as the order of the rules matters).
for _pattern, _offset in (
    (r"前天|the day before yesterday|day before yesterday", -2),
    (r"大后天", 3),
    (r"后天|the day after tomorrow|day after tomorrow", 2),
    (rf"今天|今日|今儿|今早|今晚|{_A}today{_Z}|{_A}tonight{_Z}", 0),
    (rf"昨天|昨日|昨儿|昨晚|{_A}yesterday{_Z}", -1),
    (rf"明天|明日|明儿|{_A}tomorrow{_Z}", 1),
):
    _RULES.append((re.compile(_pattern), lambda m, offset=_offset: _day(offset), False))


@_rule(rf"({NUM})\s*天(?:以后|之后|后)|{_A}in\s+({NUM})\s+days?{_Z}")
def _days_later(m):
    return _day(_n(m[1] or m[2]))


@_rule(
    rf"(上|下|这|本)?\s*(?:个)?(?:周|星期|礼拜)([一二三四五六日天1-7])(?![共直些切起])"
    rf"|{_A}(last|next|this)?\s*(monday|tuesday|wednesday|thursday|friday|saturday|sunday){_Z}"
)
def _weekday_rule(m):
    if m[2]:
        return _weekday(m[1], _WEEKDAYS_CN[m[2]])
    return _weekday(m[3], _WEEKDAYS_EN[m[4]])


@_rule(rf"(?:近|最近|过去|前|{_A}(?:the\s+)?(?:last|past))\s*({NUM})\s*(?:个)?\s*(?:天|日|{_A}days?{_Z}|d{_Z})")
def _n_days(m):
    return _last_days(_n(m[1]))


@_rule(
    rf"(?:近|最近|过去)\s*({NUM})?\s*(?:个)?\s*(?:周|星期|礼拜)(?![一二三四五六日天1-7])"
    rf"|{_A}(?:the\s+)?(?:last\s+({NUM})|past\s*({NUM})?)\s*weeks?{_Z}"
)
def _n_weeks(m):
    return _last_days(7 * _n(m[1] or m[2] or m[3]))


@_rule(
    rf"(?:近|最近|过去)\s*({NUM}|半)?\s*(?:个)?\s*月"
    rf"|{_A}(?:the\s+)?(?:last\s+({NUM})|past\s*({NUM})?)\s*months?{_Z}"
)
def _n_months(m):
    n = _n(m[1] or m[2] or m[3])
    return _last_days(30 * n if n else 15)  # 近半个月 = 15 days


# Named periods: this/last week and month.
for _pattern, _period in (
    (rf"本周|这周|这星期|本星期|这个星期|这礼拜|这个礼拜|本礼拜|{_A}this\s+week{_Z}", _this_week),
    (rf"上周|上星期|上个星期|上礼拜|上个礼拜|上一周|{_A}(?:last|previous)\s+week{_Z}", _last_week),
    (rf"本月|这个月|这月|当月|{_A}this\s+month{_Z}|{_A}month\s+to\s+date{_Z}|{_A}mtd{_Z}", _this_month),
    (rf"上月|上个月|上一个月|{_A}(?:last|previous)\s+month{_Z}", _last_month),
):
    _RULES.append((re.compile(_pattern), lambda m, period=_period: period, False))


@_rule(
    rf"(?<![\d月/.\-{CN_NUM_CHARS}])(\d{{1,2}}|[一二三四五六七八九十]{{1,3}})\s*(?:号|日(?!报))"
    rf"|{_A}the\s+(\d{{1,2}})(?:st|nd|rd|th){_Z}",
    explicit=True,
)
def _dom(m):
    day = to_int(m[1] or m[2])
    return _day_of_month(day) if day and 1 <= day <= 31 else None


_CONNECTOR = re.compile(rf"\s*(?:到|至|~|-|—|–|{_A}(?:to|until|till|through|thru){_Z})\s*")
_BARE_DAY = re.compile(r"(\d{1,2})(?:日|号|st|nd|rd|th)?(?![\d/月])")


# every rule needs one of these; most messages have none, and one search is cheaper than twenty
_TRIGGER = re.compile(
    r"[0-9天日周月拜期今昨明号]|"
    r"today|tonight|yesterday|tomorrow|day|week|month|mtd|jan|feb|mar|apr|may|jun|jul|aug|sep|oct"
    r"|nov|dec|the \d"
)


def find_dates(text: str) -> list[DateMention]:
    """Every date phrase in `text`, left to right; "X 到 Y" between two calendar days becomes one range."""
    if not _TRIGGER.search(text):
        return []
    taken = [False] * len(text)
    found: list[DateMention] = []
    for pattern, build, explicit in _RULES:
        for m in pattern.finditer(text):
            if any(taken[m.start() : m.end()]):
                continue
            resolver = build(m)
            if resolver is None:
                continue
            taken[m.start() : m.end()] = [True] * (m.end() - m.start())
            found.append(DateMention(m.start(), m.end(), resolver, explicit))
    found.sort(key=lambda d: d.start)
    return _join_ranges(text, found)


def _join_ranges(text: str, found: list[DateMention]) -> list[DateMention]:
    out: list[DateMention] = []
    i = 0
    while i < len(found):
        a = found[i]
        b = found[i + 1] if i + 1 < len(found) else None
        gap = _CONNECTOR.fullmatch(text, a.end, b.start) if b and a.explicit and b.explicit else None
        if gap:
            out.append(DateMention(a.start, b.end, _span(a.resolve, b.resolve, None), True))
            i += 2
            continue
        if a.explicit:
            # "feb 1-7", "2月1日到7日" (the second day inherits the first's month)
            conn = _CONNECTOR.match(text, a.end)
            day = _BARE_DAY.match(text, conn.end()) if conn else None
            if day and not (b and b.start < day.end()):
                out.append(DateMention(a.start, day.end(), _span(a.resolve, None, int(day[1])), True))
                i += 1
                continue
        out.append(a)
        i += 1
    return out


def _span(first: Resolver, second: Resolver | None, end_day: int | None) -> Resolver:
    def resolve(today: date, future: bool) -> Range | None:
        a = first(today, future)
        if a is None:
            return None
        start = a[0]
        if second is not None:
            b = second(today, future)
            if b is None:
                return None
            end = b[1]
            # the end goes with the start's year: "12月28日到1月3日" crosses New Year forwards
            same_year = _safe(start.year, end.month, end.day)
            end = same_year if same_year and same_year >= start else _safe(start.year + 1, end.month, end.day)
        else:
            end = _safe(start.year, start.month, end_day)
        if end is None or end < start:
            return None
        return start, end

    return resolve


def spans(found: list[DateMention]) -> list[tuple[int, int]]:
    return [(d.start, d.end) for d in found]
