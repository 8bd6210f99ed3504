"""Shared by the intent tests: the master data the corpus assumes, the corpus, and exact-match scoring.

Expected defaults are written out here from INTENTS.md rather than taken from `spec.defaults`, so a wrong
default in the parser shows up as a failure instead of agreeing with itself.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orderbot.bot.intents import IntentParser, Vocabulary

CORPUS = Path(__file__).with_name("corpus.jsonl")
SHANGHAI = ZoneInfo("Asia/Shanghai")

VOCABULARY = Vocabulary(
    customers=("杭州某某贸易", "华东精工", "深圳速达科技", "Acme Trading", "东北老铁五金"),
    products=(
        ("PB-20K-BLK", "20000mAh 移动电源 黑"),
        ("EB-TWS-WHT", "蓝牙耳机 白"),
        ("CASE-IP15-CLR", "iPhone 15 手机壳 透明"),
    ),
    staff=(
        ("wanglei", "王磊"),
        ("zhoumin", "周敏"),
        ("sunli", "孙丽"),
        ("liuyang", "刘洋"),
        ("chenjing", "陈静"),
        ("zhangsan", "张三"),
        ("zhaoqiang", "赵强"),
        ("qianfang", "钱芳"),
        ("heping", "何平"),
        ("wujun", "吴军"),
    ),
)


def make_parser(cache_dir) -> IntentParser:
    return IntentParser(VOCABULARY, cache_dir=cache_dir)


def load_corpus() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def today_of(item: dict) -> date:
    return datetime.fromisoformat(item["now"]).astimezone(SHANGHAI).date()


def expected_slots(intent: str, today: date) -> dict:
    """INTENTS.md defaults, in table order."""
    last7 = {"date_from": (today - timedelta(days=6)).isoformat(), "date_to": today.isoformat()}
    return {
        "order.lookup": {"order_ref": None},
        "report.top_delayed_customers": {"region": None, "province": None, **last7, "limit": 5},
        "report.delay_reasons": {**last7, "limit": 5},
        "report.pipeline": {"channel": None},
        "report.daily": {"date": (today - timedelta(days=1)).isoformat()},
        "report.trend": {"metric": "orders", **last7, "channel": None},
        "order.set_eta": {"order_ref": None, "eta": None},
        "order.hold_customs": {"order_ref": None},
        "order.release_customs": {"order_ref": None},
        "channel.freeze": {"channel": None},
        "channel.unfreeze": {"channel": None},
        "inventory.query": {"sku": None},
        "inventory.stockout_forecast": {"extra_orders": 0, "hours": 48, "limit": 3},
        "scan.stats": {"staff": "me", "date_from": today.isoformat(), "date_to": today.isoformat()},
        "alert.mute": {"rule": None, "minutes": 60},
        "alert.unmute": {"rule": None},
        "help": {},
        "order.list": {"filter": None, **last7, "region": None, "channel": None, "customer": None, "limit": 20},
        "customer.orders": {"customer": None, "date_from": None, "date_to": None},
        "report.metric": {
            "metric": None,
            "date_from": today.isoformat(),
            "date_to": today.isoformat(),
            "channel": None,
            "region": None,
        },
        "order.release_review": {"order_ref": None, "channel": None},
        "stock.receive": {"sku": None, "qty": None, "batch": None},
        "stock.count": {"sku": None, "qty": None},
        "task.list": {"scope": "me"},
        "unknown": {},
    }[intent]


def mismatch(parser: IntentParser, item: dict) -> str | None:
    """None when intent and every slot (asserted or default) are exactly right, else a one-line diff."""
    got = parser.parse(item["text"], datetime.fromisoformat(item["now"]))
    want = {**expected_slots(item["intent"], today_of(item)), **item["slots"]}
    if got.name != item["intent"]:
        return f"{item['text']!r}: intent {got.name} ≠ {item['intent']} ({got.to_json()})"
    if dict(got.slots) != want:
        diff = {k: (got.slots.get(k), v) for k, v in want.items() if got.slots.get(k) != v}
        return f"{item['text']!r}: slots (got, want) {diff}"
    return None


def evaluate(parser: IntentParser, items: list[dict]) -> tuple[float, str, list[str]]:
    """(accuracy, per-intent report, failures)."""
    total, right = Counter(), Counter()
    failures = []
    for item in items:
        total[item["intent"]] += 1
        problem = mismatch(parser, item)
        if problem is None:
            right[item["intent"]] += 1
        else:
            failures.append(problem)
    lines = [f"{'intent':32} {'right':>5} / {'n':<4} accuracy"]
    for intent in sorted(total):
        lines.append(f"{intent:32} {right[intent]:>5} / {total[intent]:<4} {right[intent] / total[intent]:7.1%}")
    accuracy = sum(right.values()) / max(1, sum(total.values()))
    lines.append(f"{'all':32} {sum(right.values()):>5} / {sum(total.values()):<4} {accuracy:7.1%}")
    return accuracy, "\n".join(lines), failures


def by_split(items: list[dict]) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for item in items:
        out[item["split"]].append(item)
    return out
