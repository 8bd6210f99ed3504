"""English titles and examples for the help listing, for people who write to the bot in English.

Keyed by route name; a route missing here is listed with its Chinese title (better than leaving it out)."""

from __future__ import annotations

EN: dict[str, tuple[str, str]] = {
    "order.lookup": ("look up an order", "where is order SO202602010001"),
    "order.list": ("list orders with a problem", "which orders are stuck in customs"),
    "customer.orders": ("a customer's orders", "orders of customer C00059"),
    "order.set_eta": ("change a promised delivery date", "set ETA of SO202602010001 to 2026-03-05"),
    "order.hold_customs": ("put an order on manual customs hold", "hold SO202602010001 in customs"),
    "order.release_customs": ("release a manual customs hold", "release SO202602010001"),
    "order.release_review": ("release orders held for review", "release held Temu orders"),
    "report.top_delayed_customers": (
        "customers with the most delays",
        "show yesterday's top-3 delayed East China customers",
    ),
    "report.delay_reasons": ("why orders were late", "why were orders late this week"),
    "report.pipeline": ("where orders are stuck", "where are orders stuck right now"),
    "report.daily": ("the daily report", "daily report"),
    "report.trend": ("a trend chart", "shipped trend last 14 days"),
    "report.metric": ("one figure with the previous period", "how many orders did we ship last week"),
    "channel.freeze": ("freeze a sales channel", "freeze amazon"),
    "channel.unfreeze": ("unfreeze a sales channel", "unfreeze shopify"),
    "inventory.query": ("stock of a SKU", "how many PB-20K-BLK left"),
    "inventory.stockout_forecast": ("which SKUs will run out", "which 3 SKUs run out in 48 hours if 5000 orders come"),
    "stock.receive": ("book a stock receipt", "receive 200 EB-TWS-WHT"),
    "stock.count": ("book a stock count", "stock count PB-20K-BLK 480"),
    "scan.stats": ("scan accuracy figures", "my scan accuracy today"),
    "alert.mute": ("mute an alert rule", "mute customs_stuck for 30 minutes"),
    "alert.unmute": ("unmute an alert rule", "unmute cancel_rate"),
    "alert.list": ("alerts for you", "alerts"),
    "task.list": ("open tasks", "my tasks"),
    "duty.set": ("change today's lead on duty", "今天值班组长改为赵强"),
    "waybill.check": ("check an order may get its waybill", "申请面单 SO202602010001"),
}
