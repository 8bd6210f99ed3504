"""Polarity first: undo, lift, cancel, resume, release and negation around an action word (INTENTS.md).

Runs over the word hits of one message (position, span, what the word says) before any intent is scored, and
rewrites what an action word says when a polarity marker governs it, in the same clause, in either order:

- an invertible action (冻结, 卡关/人工清关, 静默) with an undo marker (解除/取消/撤销/撤了/恢复/放开/lift/undo …),
  or with 别…了 / 不用…了 / "…不用了", says the inverse action (解冻, 解除卡关, 取消静默);
- the same action with a bare negation before it (不要冻结, don't freeze) also says the inverse, but only weakly
  (`WEAK_INVERSE`): the parser lowers the confidence so the dispatcher asks instead of acting;
- any other write action (解冻, 放行, 改交期, 入库, 盘点, 审核通过), or an action with both a negation and an undo
  marker (别解除冻结), says nothing any more (`NEGATED`): no write intent can win on it.

A marker that governs an action is only a marker: its own cues (解除 alone means "release customs") are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from orderbot.bot.intents.index import Entry

UNDO = "UNDO"
NEG = "NEG"
NEGATED = "NEGATED"
WEAK_INVERSE = "WEAK_INVERSE"

# action feature → the feature of its inverse
INVERSE = {"FREEZE": "UNFREEZE", "KAGUAN": "RELEASE", "HOLD": "RELEASE", "MUTE": "UNMUTE"}
# write actions without an inverse worth guessing: negated or undone, they say nothing
NON_INVERTIBLE = frozenset({"UNFREEZE", "RELEASE", "UNMUTE", "RESUME", "APPROVE", "RECEIVE", "STOCKCOUNT", "CHANGE"})
ACTIONS = frozenset(INVERSE) | NON_INVERTIBLE

_NEG_BEFORE_GAP = 6  # characters between a negation and its action (不用把亚马逊冻结了)
_UNDO_BEFORE_GAP = 8  # 取消对亚马逊渠道的冻结
_ASCII_GAP = (
    20  # English (spaces not counted) words are longer: "undo the freeze on amazon", "don't go and freeze amazon"
)
_STOP_WORDS = frozenset({"不再", "no longer"})  # negations that already mean "stop it": the inverse, not a doubt
# "the freeze was a mistake, undo it": a marker with a pronoun object reaches back past the clause
_BACK_REFERENCE = re.compile(r"\s*(?:it|that|this|them)\b|\s*(?:它|这个|那个)")
_CLAUSE_END = re.compile(r"[,.;!?，。；！？、\n]|但是|但|而是|\bbut\b|\binstead\b")
# a Chinese marker after its action must close the phrase: "冻结撤了吧", "卡关撤销" (not "静默取消告警")
_AFTER_CLOSE = re.compile(r"\s*(?:了|掉|吧|啦|呢|呀|一下|$)")


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    entry: Entry


def _clauses(text: str) -> list[tuple[int, int]]:
    bounds, last = [], 0
    for m in _CLAUSE_END.finditer(text):
        bounds.append((last, m.start()))
        last = m.end()
    bounds.append((last, len(text)))
    return bounds


def _clause_of(pos: int, clauses: list[tuple[int, int]]) -> tuple[int, int]:
    for a, b in clauses:
        if a <= pos < b or (pos == b and a == b):
            return a, b
    return clauses[-1]


def _is_marker(hit: Hit, kind: str) -> bool:
    return kind in hit.entry.features


def apply(text: str, hits: list[Hit]) -> list[Hit]:
    """Hits with polarity applied (same order). `text` is the normalised message with IDs blanked."""
    if not any(_is_marker(h, UNDO) or _is_marker(h, NEG) for h in hits):
        return hits
    clauses = _clauses(text)
    out = list(hits)
    consumed: set[int] = set()
    plain = [i for i, h in enumerate(hits) if h.entry.features & ACTIONS and not h.entry.features & {UNDO, NEG}]
    # a marker word that is also an action (解除, 恢复, 放行, release) acts only when no plain action shares its clause
    marker_actions = [
        i
        for i, h in enumerate(hits)
        if h.entry.features & ACTIONS
        and h.entry.features & {UNDO, NEG}
        and not any(_clause_of(hits[k].start, clauses) == _clause_of(h.start, clauses) for k in plain)
    ]
    for i in plain + marker_actions:
        action = hits[i]
        if i in consumed:
            continue
        acts = action.entry.features & ACTIONS
        c_start, c_end = _clause_of(action.start, clauses)
        neg = undo = closed_neg = False
        used: list[int] = []
        for j, m in enumerate(hits):
            if j == i or j in consumed:
                continue
            if not (c_start <= m.start < c_end) and not (m.start >= action.end and _reaches_back(text, m, clauses)):
                continue
            is_neg, is_undo = _is_marker(m, NEG), _is_marker(m, UNDO)
            if not (is_neg or is_undo):
                continue
            if (
                is_undo
                and not is_neg
                and "APPROVE" in acts
                and m.start >= action.end
                and m.entry.features & {"RELEASE", "UNFREEZE", "RESUME"}
            ):
                continue  # 批准放行, approve and release: a releasing word agrees with an approval, never undoes it
            if _action_between(hits, min(j, i), max(j, i)):
                continue
            if m.end <= action.start:  # before the action
                gap = len(text[m.end : action.start].replace(" ", ""))  # blanked IDs and dates do not count
                if text[m.start : action.start].isascii():
                    gap = min(gap, _NEG_BEFORE_GAP if gap <= _ASCII_GAP else gap)
                if is_neg and gap <= _NEG_BEFORE_GAP:
                    neg = True
                    used.append(j)
                    # 别…了 / 不用…了: the negation wraps the action and means "stop it", i.e. the inverse
                    closed_neg = (
                        closed_neg or "了" in text[action.start + 1 : c_end] or text[m.start : m.end] in _STOP_WORDS
                    )
                elif is_undo and gap <= _UNDO_BEFORE_GAP:
                    undo = True
                    used.append(j)
            elif m.start >= action.end:  # after it: "冻结撤了吧", "人工清关不用了", "freeze lifted"
                ascii_marker = text[m.start : m.end].isascii()
                m_end = _clause_of(m.start, clauses)[1]
                if not ascii_marker and not (_AFTER_CLOSE.match(text, m.end) or not text[m.end : m_end].strip()):
                    continue
                if is_undo:
                    undo = True
                    used.append(j)
                elif is_neg:
                    neg = closed_neg = True
                    used.append(j)
        if not (neg or undo):
            continue
        consumed.update(used)
        out[i] = Hit(action.start, action.end, _rewrite(action.entry, acts, neg, undo, closed_neg))
    for j in consumed:
        m = out[j]
        # a marker is only a marker now: 解除 no longer also says "release customs", 取消 no longer "cancel rate"
        out[j] = Hit(m.start, m.end, Entry(frozenset(m.entry.features & {UNDO, NEG}), ()))
    return out


def _reaches_back(text: str, marker: Hit, clauses: list[tuple[int, int]]) -> bool:
    """ "undo it", "撤回" alone after a comma: a marker with a pronoun object, or a clause of its own, refers back."""
    if _BACK_REFERENCE.match(text, marker.end):
        return True
    c_start, c_end = _clause_of(marker.start, clauses)
    rest = text[marker.end : c_end]
    return not text[c_start : marker.start].strip() and (not rest.strip() or bool(_AFTER_CLOSE.match(rest)))


def _action_between(hits: list[Hit], a: int, b: int) -> bool:
    return any(hits[k].entry.features & ACTIONS and not hits[k].entry.features & {UNDO, NEG} for k in range(a + 1, b))


def _rewrite(entry: Entry, acts: frozenset[str], neg: bool, undo: bool, closed_neg: bool) -> Entry:
    invertible = acts & frozenset(INVERSE)
    features = set(entry.features) - acts
    if invertible and not (neg and undo):
        features |= {INVERSE[a] for a in invertible}
        if neg and not closed_neg:
            features.add(WEAK_INVERSE)
        if "KAGUAN" in invertible:
            features.add("KAGUAN")  # still about the customs hold, now its release
    else:
        features.add(NEGATED)
    return replace(entry, features=frozenset(features))
