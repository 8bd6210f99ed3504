"""Which intent, and how sure: a transparent linear score over named evidence features.

score(intent) = Σ weight(feature) over the features present. A weight near 1 is a word that alone names the
intent (日报, 冻结); small weights are supporting evidence (a region, a date); negative weights are words that
rule the intent out (解除 for a hold, a channel for an alert).

confidence = CEILING × strength × clarity × completeness, rounded to 2 places:
- strength = min(1, score of the best intent);
- clarity = 1 while the runner-up scores at most half the winner, then falls linearly to 0.5 at a tie;
- completeness = ½ for every required slot the text did not give.
CEILING (0.97) keeps a margin for transcription and typing errors we cannot see. Below UNKNOWN_FLOOR the
message is `unknown`.
"""

from __future__ import annotations

from orderbot.bot.intents.spec import INTENT_NAMES, UNKNOWN, WRITE_INTENTS

CEILING = 0.97
UNKNOWN_FLOOR = 0.35

WEIGHTS: dict[str, dict[str, float]] = {
    "order.lookup": {
        "STATE_Q": 0.15,
        "APPROVE": -0.8,
        "REVIEW": -0.3,
        "RECEIVE": -0.8,
        "STOCKCOUNT": -0.8,
        "LIST": -0.3,
        "CUST": -0.3,
        "REF": 0.9,
        "LOOKUP": 0.3,
        "QUERY": 0.15,
        "ORDER": 0.1,
        "QUESTION": 0.15,
        "ETA": -0.6,
        "CHANGE": -0.3,
        "KAGUAN": -0.6,
        "HOLD": -0.5,
        "RELEASE": -0.6,
        "PIPELINE": -0.1,
    },
    "report.top_delayed_customers": {
        "ORDER": -0.3,
        "LIST": -0.2,
        "COUNT_Q": -0.2,
        "CUST": -0.3,
        "DELAY": 0.4,
        "CUSTOMER": 0.5,
        "RANK": 0.2,
        "REGION": 0.3,
        "PROVINCE": 0.3,
        "REASON": -0.4,
        "TREND": -0.5,
        "REF": -0.5,
        "ALERT": -0.5,
        "DAILY": -0.5,
    },
    "report.delay_reasons": {
        "FREEZE": -0.5,
        "UNFREEZE": -0.5,
        "MUTE": -0.5,
        "ORDER": -0.15,
        "LIST": -0.3,
        "DELAY": 0.4,
        "REASON": 0.6,
        "RANK": 0.1,
        "CUSTOMER": -0.3,
        "TREND": -0.5,
        "REF": -0.5,
        "ALERT": -0.5,
        "DAILY": -0.5,
    },
    "report.pipeline": {
        "DOCS": -0.5,
        "TASK": -0.5,
        "PIPELINE": 0.9,
        "NOW": 0.2,
        "ORDER": 0.1,
        "CHANNEL": 0.1,
        "REF": -1.0,
        "KAGUAN": -0.3,
        "ALERT": -0.5,
        "FREEZE": -0.5,
        "UNFREEZE": -0.5,
    },
    "report.daily": {"DAILY": 1.0, "REPORT": 0.7, "TREND": -0.3, "DELAY": -0.2, "REF": -0.5},
    "report.trend": {
        "COUNT_Q": -0.2,
        "TREND": 0.8,
        "METRIC": 0.3,
        "DATE": 0.1,
        "CHANNEL": 0.1,
        "ONE_DAY": -0.2,
        "REF": -0.5,
        "ALERT": -0.4,
        "MUTE": -0.4,
        "CUSTOMER": -0.2,
    },
    "order.set_eta": {
        "ETA": 0.5,
        "CHANGE": 0.3,
        "REF": 0.2,
        "DATE": 0.1,
        "QUESTION": -0.3,
        "LOOKUP": -0.2,
        "KAGUAN": -0.4,
        "RELEASE": -0.4,
    },
    "order.hold_customs": {
        "NOREF": -0.3,
        "LIST": -0.6,
        "DOCS": -0.5,
        "REVIEW": -0.3,
        "KAGUAN": 0.7,
        "CUSTOMS": 0.3,
        "HOLD": 0.4,
        "REF": 0.3,
        "RELEASE": -1.0,
        "ALERT": -0.6,
        "MUTE": -0.6,
        "UNMUTE": -0.6,
        "QUESTION": -0.3,
        "LOOKUP": -0.2,
        "PIPELINE": -0.2,
    },
    "order.release_customs": {
        "REVIEW": -0.6,
        "APPROVE": -0.6,
        "LIST": -0.5,
        "RELEASE": 0.7,
        "KAGUAN": 0.2,
        "CUSTOMS": 0.2,
        "REF": 0.3,
        "ALERT": -0.6,
        "MUTE": -0.6,
        "UNMUTE": -0.6,
        "CHANNEL": -0.5,
        "QUESTION": -0.2,
    },
    "channel.freeze": {
        "LIST": -0.6,
        "QUESTION": -0.2,
        "REVIEW": -0.3,
        "FREEZE": 0.7,
        "CHANNEL": 0.3,
        "CHANNEL_WORD": 0.1,
        "INTAKE": 0.1,
        "UNFREEZE": -1.0,
        "RESUME": -0.6,
        "ALERT": -0.5,
        "RULE": -0.3,
        "REF": -0.5,
        "DURATION": -0.2,
    },
    "channel.unfreeze": {
        "LIST": -0.6,
        "REVIEW": -0.3,
        "APPROVE": -0.3,
        "UNFREEZE": 0.8,
        "RESUME": 0.5,
        "CHANNEL": 0.3,
        "CHANNEL_WORD": 0.1,
        "INTAKE": 0.1,
        "ALERT": -0.5,
        "RULE": -0.3,
        "REF": -0.5,
        "UNMUTE": -0.5,
    },
    "inventory.query": {
        "RECEIVE": -0.5,
        "STOCKCOUNT": -0.5,
        "LIST": -0.2,
        "SKU": 0.6,
        "PRODUCT": 0.5,
        "INVENTORY": 0.5,
        "INV_WEAK": 0.3,
        "STOCKOUT": 0.1,
        "QUANTITY": -0.3,
        "SURGE": -0.3,
        "REF": -0.5,
    },
    "inventory.stockout_forecast": {
        "STOCKOUT": 0.7,
        "QUANTITY": 0.3,
        "SURGE": 0.3,
        "PREDICT": 0.2,
        "RANK": 0.1,
        "SKU_WORD": 0.1,
        "INVENTORY": 0.1,
        "WITHIN": 0.1,
        "SKU": -0.5,
        "REF": -0.5,
    },
    "scan.stats": {
        "UNSCANNED": -0.5,
        "LIST": -0.3,
        "TASK": -0.3,
        "SCAN": 0.8,
        "ACCURACY": 0.3,
        "PACKING": 0.3,
        "STAFF": 0.2,
        "TEAM": 0.1,
        "STATS": 0.1,
        "REF": -0.5,
        "ALERT": -0.3,
    },
    "alert.mute": {
        "LIST": -0.5,
        "RETURNS_PENDING": -0.3,
        "MUTE": 0.6,
        "ALERT": 0.2,
        "RULE": 0.3,
        "RULE_HINT": 0.15,
        "DURATION": 0.2,
        "UNMUTE": -1.0,
        "RESUME": -0.5,
        "CHANNEL": -0.5,
        "REF": -0.5,
        "TREND": -0.3,
    },
    "alert.unmute": {
        "UNMUTE": 0.8,
        "RESUME": 0.5,
        "ALERT": 0.2,
        "RULE": 0.3,
        "RULE_HINT": 0.15,
        "CHANNEL": -0.5,
        "REF": -0.5,
        "FREEZE": -0.3,
        "TREND": -0.3,
    },
    "help": {"HELP": 1.0, "HELP_WEAK": 0.5, "WHOAMI": 1.0, "REF": -0.8, "SKU": -0.5},
    "order.list": {
        "LIST": 0.6,
        "ORDER": 0.25,
        "NOW": 0.1,
        "DELAY": 0.3,
        "KAGUAN": 0.35,
        "DOCS": 0.6,
        "RETURNS_PENDING": 0.5,
        "REVIEW": 0.35,
        "PIPELINE": -0.3,
        "WAITING_STOCK": 0.6,
        "UNSCANNED": 0.5,
        "CUST": 0.05,
        "NOREF": 0.05,
        "REF": -0.8,
        "CUSTOMER": -0.3,
        "RANK": -0.1,
        "REASON": -0.4,
        "TREND": -0.5,
        "ALERT": -0.5,
        "TASK": -0.5,
        "COUNT_Q": -0.1,
        "MUTE": -0.4,
        "UNMUTE": -0.4,
        "APPROVE": -0.4,
        "HELP": -0.5,
        "SKU": -0.3,
        "NOFILTER": -0.3,
    },
    "customer.orders": {
        "CUST": 0.7,
        "ORDER": 0.2,
        "LOOKUP": 0.2,
        "QUERY": 0.1,
        "REF": -0.8,
        "RANK": -0.5,
        "DELAY": -0.2,
        "COUNT_Q": -0.2,
        "TREND": -0.4,
        "DOCS": -0.3,
        "KAGUAN": -0.3,
        "RETURNS_PENDING": -0.3,
        "WAITING_STOCK": -0.3,
        "UNSCANNED": -0.3,
        "REVIEW": -0.3,
    },
    "report.metric": {
        "COUNT_Q": 0.5,
        "METRIC": 0.37,
        "DATE": 0.05,
        "CHANNEL": 0.05,
        "REGION": 0.05,
        "PROVINCE": 0.05,
        "TREND": -0.6,
        "SKU": -0.6,
        "PRODUCT": -0.5,
        "INVENTORY": -0.5,
        "LIST": -0.4,
        "CUSTOMER": -0.3,
        "RANK": -0.3,
        "REASON": -0.4,
        "REF": -0.6,
        "ACCURACY": -0.4,
        "STAFF": -0.4,
        "STOCKOUT": -0.5,
        "TASK": -0.4,
        "CUST": -0.3,
        "DAILY": -0.5,
        "RECEIVE": -0.3,
        "STOCKCOUNT": -0.4,
        "ALERT": -0.4,
        "PIPELINE": -0.5,
        "KAGUAN": -0.4,
        "DOCS": -0.4,
        "WAITING_STOCK": -0.4,
        "UNSCANNED": -0.4,
        "RETURNS_PENDING": -0.2,
    },
    "order.release_review": {
        "APPROVE": 0.8,
        "REVIEW": 0.3,
        "RELEASE": 0.4,
        "CHANNEL": 0.1,
        "REF": 0.1,
        "CUSTOMS": -0.5,
        "KAGUAN": -0.5,
        "QUESTION": -0.3,
        "LIST": -0.4,
        "COUNT_Q": -0.4,
        "ALERT": -0.4,
    },
    "stock.receive": {
        "RECEIVE": 0.7,
        "SKU": 0.3,
        "PRODUCT": 0.2,
        "BATCH": 0.2,
        "NUMBER": 0.1,
        "QUESTION": -0.3,
        "LIST": -0.5,
        "RETURNS_PENDING": -0.8,
        "COUNT_Q": -0.4,
        "STOCKCOUNT": -0.5,
        "REF": -0.3,
        "ETA": -0.5,
        "LOOKUP": -0.3,
    },
    "stock.count": {
        "STOCKCOUNT": 0.8,
        "SKU": 0.3,
        "PRODUCT": 0.2,
        "NUMBER": 0.1,
        "QUESTION": -0.3,
        "RECEIVE": -0.3,
        "LIST": -0.5,
        "REF": -0.3,
        "COUNT_Q": -0.3,
    },
    "task.list": {
        "TASK": 0.8,
        "SCOPE": 0.1,
        "ME": 0.05,
        "LIST": 0.1,
        "REF": -0.5,
        "ALERT": -0.2,
        "SCAN": -0.3,
        "ORDER": -0.1,
    },
}
# Polarity (polarity.py): a negated action supports no write; the rest of the message may still be a question.
for _name in WRITE_INTENTS:
    WEIGHTS[_name]["NEGATED"] = -2.0
    WEIGHTS[_name]["STATE_Q"] = -1.0  # "冻结了吗", "is amazon frozen": asks about a state, orders nothing
    WEIGHTS[_name].setdefault("REASON", -0.8)  # "为什么亚马逊被冻结了" asks why
# "don't approve SO…", "别盘点 PB-…": an ID next to a negated action is not a request to look it up
for _name in ("order.lookup", "inventory.query"):
    WEIGHTS[_name]["NEGATED"] = -0.6
assert set(WEIGHTS) == set(INTENT_NAMES) - {UNKNOWN}


# feature → [(intent, weight)]: a message has a handful of features, so summing from this side is cheaper
_BY_FEATURE: dict[str, list[tuple[str, float]]] = {}
for _name, _table in WEIGHTS.items():
    for _feature, _weight in _table.items():
        _BY_FEATURE.setdefault(_feature, []).append((_name, _weight))


def scores(features: set[str]) -> dict[str, float]:
    """Every intent's score for these features, in INTENTS.md order."""
    total = dict.fromkeys(WEIGHTS, 0.0)
    for feature in features:
        for name, weight in _BY_FEATURE.get(feature, ()):
            total[name] += weight
    return {name: round(value, 6) for name, value in total.items()}


def ranked(features: set[str], allowed: set[str] | None = None) -> list[tuple[str, float]]:
    """(intent, score) best first; ties keep INTENTS.md order so the result is stable."""
    order = {name: i for i, name in enumerate(WEIGHTS)}
    items = [(n, s) for n, s in scores(features).items() if allowed is None or n in allowed]
    return sorted(items, key=lambda item: (-item[1], order[item[0]]))


def confidence(best: float, runner_up: float, missing: int) -> float:
    strength = min(1.0, max(best, 0.0))
    ratio = max(runner_up, 0.0) / best if best > 0 else 1.0
    clarity = 1.0 - max(0.0, min(ratio, 1.0) - 0.5)
    return round(CEILING * strength * clarity * 0.5**missing, 2)
