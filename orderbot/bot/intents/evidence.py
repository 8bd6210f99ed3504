"""One message → everything it says, before deciding what it means.

Order matters and is the point of this module: IDs first (so their digits are never read as numbers or
dates), then ASR slips are repaired, then dates, durations, order volumes and ranking sizes, then multi-word
English phrases, each blanked once taken; jieba segments only what is left, and every token is looked up.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from orderbot.bot.intents import ids
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

    def first(self, kind: str) -> str | None:
        found = self.values.get(kind)
        return found[0] if found else None


_ASKS_ABOUT_STOCK = frozenset({"INVENTORY", "INV_WEAK", "STOCKOUT"})


def extract(raw: str, index: Index, segmenter: Segmenter) -> Evidence:
    text = normalise(raw)
    ev = Evidence(text=text)

    refs = ids.find_order_refs(text)
    text = blank(text, refs)
    skus = ids.find_skus(text, index.skus)
    text = blank(text, skus)
    ev.refs = list(dict.fromkeys(f.value for f in refs))
    ev.skus = list(dict.fromkeys(f.value for f in skus))

    text = index.homophone_re.sub(lambda m: index.homophones[m.group(0)], text)

    ev.dates = find_dates(text)
    text = blank(text, [Found("", d.start, d.end) for d in ev.dates])
    for finder, target in ((find_durations, ev.durations), (find_order_volumes, ev.volumes),
                           (find_rankings, ev.rankings)):
        found = finder(text)
        target.extend(found)
        text = blank(text, [Found("", q.start, q.end) for q in found])
    ev.bare_numbers = find_bare_numbers(text)

    hits: list[tuple[int, Entry]] = []
    if index.phrase_re is not None:
        phrases = []
        for m in index.phrase_re.finditer(text):
            hits.append((m.start(), index.phrases[m.group(0)]))
            phrases.append(Found(m.group(0), m.start(), m.end()))
        text = blank(text, phrases)
    for token, start in segmenter.cut(text):
        ev.tokens.append(token)
        entry = index.lookup(token)
        if entry is not None:
            hits.append((start, entry))
    for _, entry in sorted(hits, key=lambda h: h[0]):  # slot values in the order they were written
        ev.features |= entry.features
        for kind, value in entry.values:
            ev.values[kind].append(value)

    if not ev.skus and "PRODUCT" not in ev.features and ev.features & _ASKS_ABOUT_STOCK:
        # a product name written with spaces ("20000mAh 移动电源 黑") is not one token; look for it whole
        sku = product_in(ev.text, index.products)
        if sku:
            ev.features.add("PRODUCT")
            ev.values["sku"].append(sku)

    for flag, present in (("REF", ev.refs), ("SKU", ev.skus), ("DATE", ev.dates), ("DURATION", ev.durations),
                          ("QUANTITY", ev.volumes), ("RANK", ev.rankings),
                          ("WITHIN", [d for d in ev.durations if d.within])):
        if present:
            ev.features.add(flag)
    return ev



def product_in(text: str, products: tuple[tuple[str, str], ...]) -> str | None:
    """A product named in full gives its SKU; a partial name ("耳机") or two products give none."""
    compact = "".join(text.split())
    hits = [(name, sku) for name, sku in products if name in compact]  # longest names first
    if not hits:
        return None
    name, sku = hits[0]
    # shorter names inside the longest one ("蓝牙耳机" in "蓝牙耳机白") are the same mention
    return sku if all(other in name for other, _ in hits[1:]) else None
