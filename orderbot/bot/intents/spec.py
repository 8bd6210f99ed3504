"""The closed set of intents of INTENTS.md: slot order, defaults, required slots, which ones write.

Defaults that depend on the day ("last 7 days", "yesterday", "today") are computed from the asker's local date,
so `defaults(intent, today)` takes it as a parameter instead of reading a clock.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

UNKNOWN = "unknown"

# Slot order per intent is the order of INTENTS.md's slot column; to_json keeps it.
SLOTS: dict[str, tuple[str, ...]] = {
    "order.lookup": ("order_ref",),
    "report.top_delayed_customers": ("region", "province", "date_from", "date_to", "limit"),
    "report.delay_reasons": ("date_from", "date_to", "limit"),
    "report.pipeline": ("channel",),
    "report.daily": ("date",),
    "report.trend": ("metric", "date_from", "date_to", "channel"),
    "order.set_eta": ("order_ref", "eta"),
    "order.hold_customs": ("order_ref",),
    "order.release_customs": ("order_ref",),
    "channel.freeze": ("channel",),
    "channel.unfreeze": ("channel",),
    "inventory.query": ("sku",),
    "inventory.stockout_forecast": ("extra_orders", "hours", "limit"),
    "scan.stats": ("staff", "date_from", "date_to"),
    "alert.mute": ("rule", "minutes"),
    "alert.unmute": ("rule",),
    "help": (),
    "order.list": ("filter", "date_from", "date_to", "region", "channel", "customer", "limit"),
    "customer.orders": ("customer", "date_from", "date_to"),
    "report.metric": ("metric", "date_from", "date_to", "channel", "region"),
    "order.release_review": ("order_ref", "channel"),
    "stock.receive": ("sku", "qty", "batch"),
    "stock.count": ("sku", "qty"),
    "task.list": ("scope",),
    UNKNOWN: (),
}
INTENT_NAMES: tuple[str, ...] = tuple(SLOTS)

# A write intent with one of these missing is never acted on; a read intent without them cannot answer.
REQUIRED: dict[str, tuple[str, ...]] = {
    "order.lookup": ("order_ref",),
    "order.set_eta": ("order_ref", "eta"),
    "order.hold_customs": ("order_ref",),
    "order.release_customs": ("order_ref",),
    "channel.freeze": ("channel",),
    "channel.unfreeze": ("channel",),
    "inventory.query": ("sku",),
    "alert.mute": ("rule",),
    "alert.unmute": ("rule",),
    "order.list": ("filter",),
    "customer.orders": ("customer",),
    "report.metric": ("metric",),
    "order.release_review": (),  # no order: every held order of the channel (the dispatcher asks without one)
    "stock.receive": ("sku", "qty"),
    "stock.count": ("sku", "qty"),
}
WRITE_INTENTS: frozenset[str] = frozenset(
    {
        "order.set_eta",
        "order.hold_customs",
        "order.release_customs",
        "channel.freeze",
        "channel.unfreeze",
        "alert.mute",
        "alert.unmute",
        "order.release_review",
        "stock.receive",
        "stock.count",
    }
)
# Explicit dates without a year resolve backwards for reports and forwards for a promised delivery date.
FUTURE_DATE_INTENTS: frozenset[str] = frozenset({"order.set_eta"})

METRICS: tuple[str, ...] = ("orders", "shipped", "delayed", "cancel_rate", "returns", "scans")
LIST_FILTERS: tuple[str, ...] = (
    "delayed",
    "customs_stuck",
    "docs_missing",
    "returns_pending",
    "held_review",
    "waiting_stock",
    "unscanned",
)
TASK_SCOPES: tuple[str, ...] = ("me", "warehouse", "customs", "logistics", "after_sales", "sales", "all")
RULES: tuple[str, ...] = ("cancel_rate", "returns_not_received", "repeat_orders", "customs_stuck", "weather")
LIMIT_CAP = 20
DEFAULT_LIMIT = {
    "report.top_delayed_customers": 5,
    "report.delay_reasons": 5,
    "inventory.stockout_forecast": 3,
    "order.list": 20,
}
DEFAULT_MINUTES = 60
DEFAULT_HOURS = 48
DEFAULT_RANGE_DAYS = 7


def defaults(intent: str, today: date) -> dict[str, Any]:
    """Every slot of `intent` with its INTENTS.md default (None where none is listed), in slot order."""
    slots: dict[str, Any] = dict.fromkeys(SLOTS[intent])
    if "date_from" in slots:
        if intent == "customer.orders":
            start = None  # a customer's open and recent orders: no range unless one is asked for
        elif intent in ("scan.stats", "report.metric"):
            start = today
        else:
            start = today - timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if start is not None:
            slots["date_from"], slots["date_to"] = start.isoformat(), today.isoformat()
    if intent == "report.daily":
        slots["date"] = (today - timedelta(days=1)).isoformat()
    if intent in DEFAULT_LIMIT:
        slots["limit"] = DEFAULT_LIMIT[intent]
    if intent == "report.trend":
        slots["metric"] = "orders"
    if intent == "task.list":
        slots["scope"] = "me"
    if intent == "inventory.stockout_forecast":
        slots["extra_orders"], slots["hours"] = 0, DEFAULT_HOURS
    if intent == "scan.stats":
        slots["staff"] = "me"
    if intent == "alert.mute":
        slots["minutes"] = DEFAULT_MINUTES
    return slots
