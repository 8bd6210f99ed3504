"""The word index one parser uses: every known word or phrase → the evidence and slot values it carries.

Built once per parser from the static lexicon and a `Vocabulary`. Three ways in:
- `tokens`: words jieba returns (Chinese, and single English words);
- `phrase_re`: multi-word English ("east china", "what can you do") matched before segmentation, since
  jieba splits on spaces;
- `fuzzy`: English words at edit distance 1 ("freez", "dialy"), through a symmetric-delete table.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orderbot.bot.intents import lexicon
from orderbot.bot.intents.ids import compact_skus
from orderbot.bot.intents.vocabulary import Vocabulary

if TYPE_CHECKING:
    from orderbot.bot.intents.slips import SlipTable

_ASCII_WORD = re.compile(r"^[a-z0-9_'.\-]+$")
_FUZZY_MIN_LEN = 5  # shorter English words have too many neighbours at distance 1
_SPLIT_BY_JIEBA = re.compile(r"[a-z0-9][ _'\-]|[ _'\-][a-z0-9]")
# common English words one edit away from a cue word ("there" → "where"): never corrected
_NOT_TYPOS = frozenset(
    {
        "there",
        "these",
        "those",
        "other",
        "where",
        "shore",
        "short",
        "stack",
        "stuck",
        "state",
        "store",
        "stole",
        "track",
        "trace",
        "truck",
        "daily",
        "dairy",
        "skies",
        "items",
        "times",
        "order",
        "older",
        "alter",
        "later",
        "rates",
        "dates",
        "files",
        "holds",
        "sales",
    }
)


@dataclass(frozen=True)
class Entry:
    """What one word says: evidence features and (slot kind, value) pairs."""

    features: frozenset[str] = frozenset()
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Index:
    tokens: dict[str, Entry]
    phrases: dict[str, Entry]
    phrase_re: re.Pattern[str] | None
    fuzzy: dict[str, str]
    homophone_re: re.Pattern[str]
    homophones: dict[str, str]
    products: tuple[tuple[str, str], ...]  # (compact lower-case product name, SKU), longest first
    skus: dict[str, str]  # compact spelling → SKU (ids.compact_skus)
    slips: SlipTable | None = None

    def segmenter_words(self) -> list[str]:
        """Chinese and mixed words for jieba's dictionary (single characters are already there)."""
        return [w for w in self.tokens if len(w) > 1 and not _ASCII_WORD.match(w)]

    def lookup(self, token: str) -> Entry | None:
        entry = self.tokens.get(token)
        if entry is None and len(token) >= _FUZZY_MIN_LEN and token not in _NOT_TYPOS and _ASCII_WORD.match(token):
            fixed = _fuzzy_match(token, self.fuzzy)
            entry = self.tokens.get(fixed) if fixed else None
        return entry


def build_index(vocabulary: Vocabulary) -> Index:
    features: dict[str, set[str]] = defaultdict(set)
    values: dict[str, list[tuple[str, str]]] = defaultdict(list)

    def add(word: str, feature: str | None = None, kind: str | None = None, value: str | None = None) -> None:
        word = " ".join(word.lower().split())
        if not word:
            return
        if feature:
            features[word].add(feature)
        if kind and (kind, value) not in values[word]:
            values[word].append((kind, value))

    for feature, words in lexicon.CUES.items():
        for w in words:
            add(w, feature)
    for w, region in lexicon.region_words().items():
        add(w, "REGION", "region", region)
    for w, province in lexicon.province_words().items():
        add(w, "PROVINCE", "province", province)
    for w, channel in lexicon.channel_words().items():
        add(w, "CHANNEL", "channel", channel)
    for w, metric in lexicon.METRIC_WORDS.items():
        add(w, "METRIC", "metric", metric)
    for w, rule in lexicon.RULE_WORDS.items():
        add(w, "RULE", "rule", rule)
    for w, rule in lexicon.RULE_HINTS.items():
        add(w, "RULE_HINT", "rule_hint", rule)
    for w in lexicon.TEAM_WORDS:
        add(w, "TEAM", "staff", "team")
    for w in lexicon.ME_WORDS:
        add(w, "ME")
        add(w, "SCOPE", "scope", "me")
    for w, scope in lexicon.SCOPE_WORDS.items():
        add(w, "SCOPE", "scope", scope)
    for feature, value in lexicon.FILTER_BY_FEATURE.items():
        for w in lexicon.CUES[feature]:
            add(w, kind="filter", value=value)
    for w in lexicon.UNDO_WORDS:
        add(w, "UNDO")
    for w in lexicon.NEG_WORDS:
        add(w, "NEG")
    for sid, name in vocabulary.staff:
        add(name, "STAFF", "staff", name)
        add(sid, "STAFF", "staff", name)
    for name in vocabulary.customers:
        # a customer name is one token: it hides the region/channel words inside it, and names the customer
        add(name, "CUST", "customer", name)
    products = []
    for sku, name in vocabulary.products:
        compact = "".join(name.lower().split())
        if len(compact) >= 2:
            add(compact, "PRODUCT", "sku", sku.upper())
            products.append((compact, sku.upper()))

    entries = {w: Entry(frozenset(features[w]), tuple(values[w])) for w in set(features) | set(values)}
    # jieba splits ASCII at spaces, hyphens, underscores and apostrophes: such entries are matched as phrases
    phrases = {w: e for w, e in entries.items() if _SPLIT_BY_JIEBA.search(w)}
    tokens = {w: e for w, e in entries.items() if w not in phrases}
    phrase_re = None
    if phrases:
        alternation = "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))
        phrase_re = re.compile(rf"(?<![a-z0-9])(?:{alternation})(?![a-z0-9])")
    homophone_re = re.compile("|".join(re.escape(h) for h in sorted(lexicon.HOMOPHONES, key=len, reverse=True)))
    from orderbot.bot.intents.slips import SlipTable

    # what a slip may be heard as: words that carry meaning, never a bare polarity marker or a question word
    not_repaired = {"UNDO", "NEG", "QUESTION", "ME"}
    slips = SlipTable((w, e) for w, e in tokens.items() if e.values or (e.features - not_repaired))
    return Index(
        slips=slips,
        tokens=tokens,
        phrases=phrases,
        phrase_re=phrase_re,
        fuzzy=_deletion_table(tokens),
        homophone_re=homophone_re,
        homophones=dict(lexicon.HOMOPHONES),
        products=tuple(sorted(products, key=lambda p: len(p[0]), reverse=True)),
        skus=compact_skus(vocabulary.skus),
    )


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _deletion_table(tokens: dict[str, Entry]) -> dict[str, str]:
    """word and each one-letter deletion of it → the word; a key claimed by two words is dropped (ambiguous)."""
    table: dict[str, str | None] = {}
    for word in tokens:
        if len(word) < _FUZZY_MIN_LEN - 1 or not re.fullmatch(r"[a-z]+", word):
            continue
        for key in {word} | _deletes(word):
            if key in table and table[key] != word:
                table[key] = None
            else:
                table[key] = word
    return {k: v for k, v in table.items() if v is not None}


def _fuzzy_match(token: str, table: dict[str, str]) -> str | None:
    """Insertion, deletion, substitution and adjacent swaps at distance 1 ('dialy' → 'daily')."""
    hit = table.get(token)
    if hit:
        return hit
    candidates = {table[k] for k in _deletes(token) if k in table}
    return candidates.pop() if len(candidates) == 1 else None
