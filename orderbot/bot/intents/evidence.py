"""One message → everything it says, before deciding what it means.

Order matters and is the point of this module: IDs first (so their digits are never read as numbers or
dates), then ASR slips are repaired, then dates, durations, order volumes and ranking sizes, then multi-word
English phrases, each blanked once taken; jieba segments only what is left, and every token is looked up.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from dataclasses import dataclass, field, replace

from orderbot.bot.intents import ids, names, polarity, slips
from orderbot.bot.intents.dates import DateMention, find_dates
from orderbot.bot.intents.ids import Found, blank
from orderbot.bot.intents.index import Entry, Index
from orderbot.bot.intents.numbers import Quantity, find_bare_numbers, find_durations, find_order_volumes, find_rankings
from orderbot.bot.intents.segment import Segmenter
from orderbot.bot.intents.text import normalise


@dataclass
class Evidence:
    """Features (named facts that point at intents) and candidate slot values, in the order written."""

    text: str
    features: set[str] = field(default_factory=set)
    refs: list[str] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    dates: list[DateMention] = field(default_factory=list)
    durations: list[Quantity] = field(default_factory=list)
    volumes: list[Quantity] = field(default_factory=list)
    rankings: list[Quantity] = field(default_factory=list)
    bare_numbers: list[Quantity] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    tokens: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    quantities: list[int] = field(default_factory=list)  # counts of goods, in the order written (stock intents)
    customer_written: str | None = None  # a customer named by words the vocabulary does not hold
    staff_written: str | None = None  # a person's name the staff directory does not hold
    repairs: list[slips.Repair] = field(default_factory=list)

    def first(self, kind: str) -> str | None:
        found = self.values.get(kind)
        return found[0] if found else None


# returns not yet back in stock, however the words are arranged (退回来还没入库, returns that haven't come back)
_RETURNS_PENDING = re.compile(
    r"(?:退货|退回|退件|退的货)[^,.;!?，。；！？]{0,6}?(?:没|未|尚未)[^,.;!?，。；！？]{0,3}?"
    r"(?:入库|到仓|收到|回仓|签收|到)"
    r"|returns?\b[^,.;!?]{0,30}\b(?:not|n't|never|yet to)\b[^,.;!?]{0,20}"
    r"\b(?:received|back|checked in|restocked|arrived)"
)
_ANY_DAY = date(2026, 1, 15)
# a question about the state a write would leave ("亚马逊冻结了吗", "is amazon frozen"): never that write
_STATE_QUESTION = re.compile(
    r"(?:了吗|了没有?|了么|了嘛|过吗|着吗)\s*[?？]?\s*$|是不是|是否|有没有被|要不要|需不需要|该不该"
    r"|(?<![a-z])(?:is|are|was|were|has|have|had)\b[^,.;!?]{0,30}\b(?:frozen|paused|held|on hold|muted|"
    r"silenced|snoozed|blocked|stuck|received|counted|approved|released)\b"
)
# asking what the bot is for, however it is put: "你都能做啥", "what can this thing do", "how does this bot work"
_ASKS_FOR_HELP = re.compile(
    r"(?:你|您|机器人|bot|它|这个|这玩意儿?)[^,.;!?，。；！？]{0,6}(?:能|会|可以)[^,.;!?，。；！？]{0,4}"
    r"(?:做|干|帮|处理|问)[^,.;!?，。；！？]{0,4}(?:什么|啥|哪些)"
    r"|(?:能|可以)问(?:你)?(?:些)?(?:什么|啥|哪些)"
    r"|what\s+(?:can|could|does|do)\s+(?:you|this\s+bot|this\s+thing|this|it|the\s+bot)\s+(?:do|help|offer)"
    r"|what\s+(?:you|this\s+bot|this\s+thing|it|the\s+bot)\s+(?:can|could)\s+(?:do|help)"
    r"|(?:your|the\s+bot's|its)\s+(?:features|commands|capabilities|functions)"
    r"|how\s+(?:does|do)\s+(?:this|it|the\s+bot|this\s+bot|you)\s+work"
    r"|how\s+(?:do|can|should)\s+i\s+use|\bi'?m\s+new\b|\bi\s+am\s+new\b"
    r"|^(?:请问|那个|呃)?\s*(?:怎么|如何|怎样)(?:才能)?(?:查|用|看|问|操作|使用)"
)
_ASKS_ABOUT_STOCK = frozenset({"INVENTORY", "INV_WEAK", "STOCKOUT", "RECEIVE", "STOCKCOUNT"})


def extract(raw: str, index: Index, segmenter: Segmenter, repair: bool = True) -> Evidence:
    """Everything `raw` says. `repair=False` reads it without pinyin slip repairs (see parser)."""
    text = normalise(raw)
    ev = Evidence(text=text)

    refs = ids.find_order_refs(text)
    text = blank(text, refs)
    customer_ids = ids.find_customer_ids(text)
    text = blank(text, customer_ids)
    batches = ids.find_batches(text)
    text = blank(text, batches)
    skus = ids.find_skus(text, index.skus)
    text = blank(text, skus)
    ev.refs = list(dict.fromkeys(f.value for f in refs))
    ev.skus = list(dict.fromkeys(f.value for f in skus))
    ev.batches = [f.value for f in batches]
    for f in customer_ids:
        ev.values["customer"].append(f.value)
        ev.features.add("CUST")

    text = index.homophone_re.sub(lambda m: index.homophones[m.group(0)], text)

    ev.dates = find_dates(text)
    text = blank(text, [Found("", d.start, d.end) for d in ev.dates])
    for finder, target in (
        (find_durations, ev.durations),
        (find_order_volumes, ev.volumes),
        (find_rankings, ev.rankings),
    ):
        found = finder(text)
        target.extend(found)
        text = blank(text, [Found("", q.start, q.end) for q in found])
    ev.bare_numbers = find_bare_numbers(text)
    counted = sorted([*ev.bare_numbers, *ev.rankings, *ev.volumes], key=lambda q: q.start)
    ev.quantities = [q.value for q in counted]

    hits, unknown, ev.tokens = _words(text, index, segmenter)
    if repair and index.slips is not None:
        ev.repairs = index.slips.repair(text, unknown, segmenter.is_word)
        if ev.repairs:
            # a repair has as many characters as the slip (one per syllable): positions stay, words re-form
            chars = list(text)
            for r in ev.repairs:
                chars[r.start : r.end] = r.meant
            hits, _, ev.tokens = _words("".join(chars), index, segmenter)
            # what a repair says is what the word it became part of says (卡主 → 卡住 inside 清关卡住)
            ev.repairs = [
                next((replace(r, entry=h.entry) for h in hits if h.start <= r.start < h.end), r) for r in ev.repairs
            ]
    if _STATE_QUESTION.search(text):
        ev.features.add("STATE_Q")
    help_asked = _ASKS_FOR_HELP.search(text)
    if help_asked:
        hits.append(polarity.Hit(help_asked.start(), help_asked.end(), Entry(frozenset({"HELP"}))))
    if _RETURNS_PENDING.search(text) and not any("RETURNS_PENDING" in h.entry.features for h in hits):
        m = _RETURNS_PENDING.search(text)
        hits.append(
            polarity.Hit(m.start(), m.end(), Entry(frozenset({"RETURNS_PENDING"}), (("filter", "returns_pending"),)))
        )
    hits.sort(key=lambda h: h.start)  # slot values in the order they were written
    hits = polarity.apply(text, hits)
    for hit in hits:
        ev.features |= hit.entry.features
        for kind, value in hit.entry.values:
            ev.values[kind].append(value)

    if not ev.skus and "PRODUCT" not in ev.features and ev.features & _ASKS_ABOUT_STOCK:
        # a product name written with spaces ("20000mAh 移动电源 黑") is not one token; look for it whole
        sku = product_in(ev.text, index.products)
        if sku:
            ev.features.add("PRODUCT")
            ev.values["sku"].append(sku)

    if not ev.values.get("customer"):
        written = names.customer_written(text)
        # a channel, region or any other word of ours is not a customer ("orders from amazon")
        if written and index.tokens.get(written) is None and index.phrases.get(written) is None:
            ev.customer_written = written
            ev.features.add("CUST")
    if "STAFF" not in ev.features:
        ev.staff_written = names.person_written(text)

    for flag, present in (
        ("REF", ev.refs),
        ("SKU", ev.skus),
        ("DATE", ev.dates),
        ("DURATION", ev.durations),
        ("QUANTITY", ev.volumes),
        ("RANK", ev.rankings),
        ("BATCH", ev.batches),
        ("NUMBER", ev.quantities),
        ("WITHIN", [d for d in ev.durations if d.within]),
    ):
        if present:
            ev.features.add(flag)
    if not ev.refs:
        ev.features.add("NOREF")
    if not ev.values.get("filter"):
        ev.features.add("NOFILTER")  # order.list answers one filter; without one it is some other question
    if ev.dates:
        # a single day (昨天, 2月3日) has no trend: whether a mention is one day does not depend on today
        span = ev.dates[0].resolve(_ANY_DAY, False)
        if span and span[0] == span[1]:
            ev.features.add("ONE_DAY")
    return ev


def _words(
    text: str, index: Index, segmenter: Segmenter
) -> tuple[list[polarity.Hit], list[tuple[str, int]], list[str]]:
    """Known phrases and words of `text` (as hits), the unknown tokens with their positions, and all tokens."""
    hits: list[polarity.Hit] = []
    if index.phrase_re is not None:
        phrases = []
        for m in index.phrase_re.finditer(text):
            hits.append(polarity.Hit(m.start(), m.end(), index.phrases[m.group(0)]))
            phrases.append(Found(m.group(0), m.start(), m.end()))
        text = blank(text, phrases)
    unknown: list[tuple[str, int]] = []
    tokens: list[str] = []
    for token, start in segmenter.cut(text):
        tokens.append(token)
        entry = index.lookup(token)
        if entry is not None:
            hits.append(polarity.Hit(start, start + len(token), entry))
        else:
            unknown.append((token, start))
    return hits, unknown, tokens


def product_in(text: str, products: tuple[tuple[str, str], ...]) -> str | None:
    """A product named in full gives its SKU; a partial name ("耳机") or two products give none."""
    compact = "".join(text.split())
    hits = [(name, sku) for name, sku in products if name in compact]  # longest names first
    if not hits:
        return None
    name, sku = hits[0]
    # shorter names inside the longest one ("蓝牙耳机" in "蓝牙耳机白") are the same mention
    return sku if all(other in name for other, _ in hits[1:]) else None
