"""The 延迟原因TOP5 answer draws one bar per cause row, labelled with the lane and its carrier."""

from __future__ import annotations

from datetime import datetime, UTC

from orderbot.bot.dispatch import Asker
from orderbot.bot.handlers.base import Context
from orderbot.bot.handlers.reports import causes
from orderbot.bot.intents.intent import Intent
from orderbot.config import BusinessConfig
from orderbot.core.models import Carrier, Customer, Delay, Order

NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)


async def test_causes_sharing_a_reason_each_get_their_bar(db):
    async with db.write() as s:
        s.add_all(
            [
                Carrier(code="YUN", name="云途物流"),
                Carrier(code="DHL", name="DHL"),
                Customer(id="C1", name="杭州某某贸易", created_at=NOW),
            ]
        )
        await s.flush()
        counts = {("深圳-美国", "YUN"): 3, ("深圳-美国", "DHL"): 2, ("义乌-英国", "YUN"): 1}
        n = 0
        for (lane, carrier), k in counts.items():
            for _ in range(k):
                n += 1
                order = Order(
                    order_no=f"SO2026020900{n:02d}",
                    customer_id="C1",
                    amount_cents=100,
                    origin="深圳",
                    urgency="normal",
                    status="shipped",
                    stage="routing",
                    stage_since=NOW,
                    created_at=NOW,
                    updated_at=NOW,
                )
                s.add(order)
                await s.flush()
                s.add(
                    Delay(
                        order_id=order.id,
                        category="port_congestion",
                        reason="港口拥堵/罢工",
                        lane=lane,
                        cause="港口罢工",
                        carrier_code=carrier,
                        recorded_at=NOW,
                    )
                )
    drawn = []

    async def charts(fn, *args, **kwargs):
        drawn.append((fn.__name__, args))
        return b"png"

    async with db.read() as s:
        ctx = Context(Asker("u1", "王", frozenset({"management"})), s, NOW, BusinessConfig(), charts)
        reply = await causes(
            Intent("report.delay_reasons", {"date_from": "2026-02-04", "date_to": "2026-02-10", "limit": 5}, 1.0), ctx
        )
    [(name, (_title, labels, values))] = drawn
    assert name == "ranking_bars"
    assert labels == [
        "深圳-美国（云途物流） · 港口拥堵/罢工",
        "深圳-美国（DHL） · 港口拥堵/罢工",
        "义乌-英国（云途物流） · 港口拥堵/罢工",
    ]
    assert values == [3, 2, 1]
    assert reply.text.count("\n") == 2
