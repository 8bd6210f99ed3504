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

from orderbot.bot.intents.spec import INTENT_NAMES, UNKNOWN

CEILING = 0.97
UNKNOWN_FLOOR = 0.35

WEIGHTS: dict[str, dict[str, float]] = {
    "order.lookup": {
        "REF": 0.9, "LOOKUP": 0.3, "QUERY": 0.15, "ORDER": 0.1, "QUESTION": 0.15,
        "ETA": -0.6, "CHANGE": -0.3, "KAGUAN": -0.6, "HOLD": -0.5, "RELEASE": -0.6, "PIPELINE": -0.1,
    },
    "report.top_delayed_customers": {
        "DELAY": 0.4, "CUSTOMER": 0.5, "RANK": 0.2, "REGION": 0.3, "PROVINCE": 0.3,
        "REASON": -0.4, "TREND": -0.5, "REF": -0.5, "ALERT": -0.5, "DAILY": -0.5,
    },
    "report.delay_reasons": {
        "DELAY": 0.4, "REASON": 0.6, "RANK": 0.1,
        "CUSTOMER": -0.3, "TREND": -0.5, "REF": -0.5, "ALERT": -0.5, "DAILY": -0.5,
    },
    "report.pipeline": {
        "PIPELINE": 0.9, "NOW": 0.2, "ORDER": 0.1, "CHANNEL": 0.1,
        "REF": -1.0, "KAGUAN": -0.3, "ALERT": -0.5, "FREEZE": -0.5, "UNFREEZE": -0.5,
    },
    "report.daily": {"DAILY": 1.0, "REPORT": 0.7, "TREND": -0.3, "DELAY": -0.2, "REF": -0.5},
    "report.trend": {
        "TREND": 0.8, "METRIC": 0.35, "DATE": 0.1, "CHANNEL": 0.1,
        "REF": -0.5, "ALERT": -0.4, "MUTE": -0.4, "CUSTOMER": -0.2,
    },
    "order.set_eta": {
        "ETA": 0.5, "CHANGE": 0.3, "REF": 0.2, "DATE": 0.1,
        "QUESTION": -0.3, "LOOKUP": -0.2, "KAGUAN": -0.4, "RELEASE": -0.4,
    },
    "order.hold_customs": {
        "KAGUAN": 0.7, "CUSTOMS": 0.3, "HOLD": 0.4, "REF": 0.3,
        "RELEASE": -1.0, "ALERT": -0.6, "MUTE": -0.6, "UNMUTE": -0.6, "QUESTION": -0.3, "LOOKUP": -0.2,
        "PIPELINE": -0.2,
    },
    "order.release_customs": {
        "RELEASE": 0.7, "KAGUAN": 0.2, "CUSTOMS": 0.2, "REF": 0.3,
        "ALERT": -0.6, "MUTE": -0.6, "UNMUTE": -0.6, "CHANNEL": -0.5, "QUESTION": -0.2,
    },
    "channel.freeze": {
        "FREEZE": 0.7, "CHANNEL": 0.3, "CHANNEL_WORD": 0.1, "INTAKE": 0.1,
        "UNFREEZE": -1.0, "RESUME": -0.6, "ALERT": -0.5, "RULE": -0.3, "REF": -0.5, "DURATION": -0.2,
    },
    "channel.unfreeze": {
        "UNFREEZE": 0.8, "RESUME": 0.5, "CHANNEL": 0.3, "CHANNEL_WORD": 0.1, "INTAKE": 0.1,
        "ALERT": -0.5, "RULE": -0.3, "REF": -0.5, "UNMUTE": -0.5,
    },
    "inventory.query": {
        "SKU": 0.6, "PRODUCT": 0.5, "INVENTORY": 0.5, "INV_WEAK": 0.3, "STOCKOUT": 0.1,
        "QUANTITY": -0.3, "SURGE": -0.3, "REF": -0.5,
    },
    "inventory.stockout_forecast": {
        "STOCKOUT": 0.7, "QUANTITY": 0.3, "SURGE": 0.3, "PREDICT": 0.2, "RANK": 0.1, "SKU_WORD": 0.1,
        "INVENTORY": 0.1, "WITHIN": 0.1,
        "SKU": -0.5, "REF": -0.5,
    },
    "scan.stats": {
        "SCAN": 0.8, "ACCURACY": 0.3, "PACKING": 0.3, "STAFF": 0.2, "TEAM": 0.1, "STATS": 0.1,
        "REF": -0.5, "ALERT": -0.3,
    },
    "alert.mute": {
        "MUTE": 0.6, "ALERT": 0.2, "RULE": 0.3, "RULE_HINT": 0.15, "DURATION": 0.2,
        "UNMUTE": -1.0, "RESUME": -0.5, "CHANNEL": -0.5, "REF": -0.5, "TREND": -0.3,
    },
    "alert.unmute": {
        "UNMUTE": 0.8, "RESUME": 0.5, "ALERT": 0.2, "RULE": 0.3, "RULE_HINT": 0.15,
        "CHANNEL": -0.5, "REF": -0.5, "FREEZE": -0.3, "TREND": -0.3,
    },
    "help": {"HELP": 1.0, "HELP_WEAK": 0.5},
    # Understood by handlers already; the parser learns their words separately (until then they never win).
    "order.release_review": {},
    "stock.receive": {},
    "stock.count": {},
}
NOT_YET_PARSED = frozenset(name for name, table in WEIGHTS.items() if not table)
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
    return round(CEILING * strength * clarity * 0.5 ** missing, 2)
