"""Evidence → the slots of one chosen intent, with INTENTS.md defaults; required slots are never guessed."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from orderbot.bot.intents.evidence import Evidence
from orderbot.bot.intents.spec import FUTURE_DATE_INTENTS, LIMIT_CAP, REQUIRED, defaults
from orderbot.core.regions import PROVINCE_REGION

_MIN_BARE_VOLUME = 100  # "如果来5000" without 单: a bare number this big can only be an order volume


def fill(
    intent: str, ev: Evidence, today: date, customer_match=None
) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """The intent's slots in table order, the required ones still missing, and the slots holding a name the
    vocabulary does not know (kept as written; see `Intent.unknown_names`). `customer_match(part)` gives the
    stored customer name a written part names, or None."""
    slots = defaults(intent, today)
    unknown: list[str] = []
    future = intent in FUTURE_DATE_INTENTS

    if "order_ref" in slots and ev.refs:
        slots["order_ref"] = ev.refs[0]
    if "sku" in slots:
        slots["sku"] = ev.skus[0] if ev.skus else ev.first("sku")
    if "channel" in slots:
        slots["channel"] = ev.first("channel")
    if "region" in slots and "province" in slots:
        slots["region"], slots["province"] = ev.first("region"), ev.first("province")
    elif "region" in slots:  # no province slot: a province asks about its region
        province = ev.first("province")
        slots["region"] = ev.first("region") or (PROVINCE_REGION.get(province) if province else None)
    if "filter" in slots:
        slots["filter"] = ev.first("filter")
    if "customer" in slots:
        slots["customer"] = ev.first("customer")
        if slots["customer"] is None and ev.customer_written:
            stored = customer_match(ev.customer_written) if customer_match else None
            slots["customer"] = stored or ev.customer_written
            if stored is None:
                unknown.append("customer")
    if "scope" in slots:
        scopes = ev.values.get("scope", [])
        slots["scope"] = next((s for s in scopes if s != "me"), "me")
    if "qty" in slots and ev.quantities:
        slots["qty"] = ev.quantities[0]
    if "batch" in slots and ev.batches:
        slots["batch"] = ev.batches[0]
    if "date_from" in slots and ev.dates:
        resolved = ev.dates[0].resolve(today, future)
        if resolved:
            slots["date_from"], slots["date_to"] = (d.isoformat() for d in resolved)
    if "date" in slots and ev.dates:
        resolved = ev.dates[0].resolve(today, future)
        if resolved:
            slots["date"] = resolved[1].isoformat()  # a range asked for a daily report: its latest day
    if "eta" in slots:
        slots["eta"] = _eta(ev, today)
    if "limit" in slots and ev.rankings:
        slots["limit"] = min(ev.rankings[0].value, LIMIT_CAP)
    if "metric" in slots:
        metrics = [m for m in ev.values.get("metric", []) if intent == "report.metric" or m != "scans"]
        # "订单取消率趋势": the specific metric wins over the generic word for orders
        fallback = None if intent == "report.metric" else "orders"  # report.metric names no default: ask
        slots["metric"] = next((m for m in metrics if m != "orders"), metrics[0] if metrics else fallback)
    if "staff" in slots:
        slots["staff"] = _staff(ev)
        if slots["staff"] == "me" and ev.staff_written:
            # a name the staff directory does not hold is never the asker: kept as written, asked back
            slots["staff"] = ev.staff_written
            unknown.append("staff")
    if "rule" in slots:
        slots["rule"] = ev.first("rule") or ev.first("rule_hint")
    if "minutes" in slots and ev.durations:
        slots["minutes"] = ev.durations[0].value
    if "hours" in slots and ev.durations:
        slots["hours"] = math.ceil(ev.durations[0].value / 60)
    if "extra_orders" in slots:
        if ev.volumes:
            slots["extra_orders"] = ev.volumes[0].value
        else:
            big = [q.value for q in ev.bare_numbers if q.value >= _MIN_BARE_VOLUME]
            if big:
                slots["extra_orders"] = big[0]

    missing = tuple(s for s in REQUIRED.get(intent, ()) if slots.get(s) is None)
    if "staff" in unknown:
        missing += ("staff",)
    return slots, missing, tuple(unknown)


def _eta(ev: Evidence, today: date) -> str | None:
    """The promised date: the last date written (people say the old one first), if it is one day."""
    if not ev.dates:
        return None
    resolved = ev.dates[-1].resolve(today, True)
    if resolved is None or resolved[0] != resolved[1]:
        return None  # a range is not a delivery date: ask instead of picking one end
    return resolved[0].isoformat()


def _staff(ev: Evidence) -> str:
    named = [s for s in ev.values.get("staff", []) if s != "team"]
    if named:
        return named[0]
    return "team" if "team" in ev.values.get("staff", []) else "me"
