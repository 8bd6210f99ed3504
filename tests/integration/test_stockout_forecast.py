"""The stockout forecast counts receipts due by their arrival, untimed stock in transit at the supplier lead time
and orders waiting for stock; it says when each SKU runs out and opens purchase tasks from its buttons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from orderbot.messaging.addresses import Addresses
from orderbot.bot.dispatch import Dispatcher
from orderbot.bot.intents import Intent
from orderbot.core.models import OutboxMessage, Product, Task
from orderbot.core.reports.inventory import stockout_forecast
from orderbot.core.staff import sync_staff
from orderbot.core.stock import ledger
from orderbot.core.stock.receiving import ReceiptLine, receive_lines
from orderbot.messaging.inbound import CardAction, ChatMessage, Origin

from tests.helpers import add_products
from tests.integration.test_stock_chat import ScriptedParser


@pytest.fixture
async def selling(db, config, clock):
    """PB-20K-BLK ships 24 a day (1 an hour) and has 30 available: it runs out in about 30 hours."""
    now = clock()
    async with db.write() as s:
        await sync_staff(s, config)
        await add_products(s, config, stock=0, at=now)
        await ledger.receive(s, "PB-20K-BLK", 30 + 24 * 7, at=now - timedelta(days=8))
        await ledger.receive(s, "CASE-IP15-CLR", 10_000, at=now - timedelta(days=8))
        for day in range(7):
            at = now - timedelta(days=day, hours=2)
            await ledger.reserve(s, "PB-20K-BLK", 24, at=at, order_no=f"SOX{day}")
            await ledger.ship(s, "PB-20K-BLK", 24, at=at, order_no=f"SOX{day}")
    return db


async def _forecast(db, clock, **kw):
    async with db.read() as s:
        rows = await stockout_forecast(s, now=clock(), extra_orders=0, hours=48, **kw)
    return {r.sku: r for r in rows}


async def test_run_out_time_moves_with_receipts_due_by_their_arrival(selling, clock):
    db = selling
    pb = (await _forecast(db, clock))["PB-20K-BLK"]
    assert pb.available == 30 and pb.hours_to_stockout == pytest.approx(30, abs=0.5) and pb.incoming == 0
    assert pb.buy >= 18  # 48 h of demand less 30 available, plus the safety margin

    async with db.write() as s:  # announced for +40 h: too late, it still runs out at 30 h
        await receive_lines(
            s,
            [ReceiptLine("PB-20K-BLK", 50, "B1", "PO-1", clock() + timedelta(hours=40))],
            now=clock(),
            actor="t",
            source="file",
        )
    pb = (await _forecast(db, clock))["PB-20K-BLK"]
    assert pb.hours_to_stockout == pytest.approx(30, abs=0.5) and pb.incoming == 50

    async with db.write() as s:  # a second line due at +20 h covers the gap
        await receive_lines(
            s,
            [ReceiptLine("PB-20K-BLK", 50, "B2", "PO-1", clock() + timedelta(hours=20))],
            now=clock(),
            actor="t",
            source="file",
        )
    assert "PB-20K-BLK" not in await _forecast(db, clock)


async def test_untimed_transit_lands_at_the_lead_time_and_waiting_orders_come_first(selling, clock):
    db = selling
    async with db.write() as s:
        await ledger.shift_in_transit(s, "PB-20K-BLK", 100)
        await s.execute(update(Product).where(Product.sku == "PB-20K-BLK").values(lead_time_days=1))
    assert "PB-20K-BLK" not in await _forecast(db, clock)  # 100 land at 24 h, before the 30 run out
    async with db.write() as s:
        await s.execute(update(Product).where(Product.sku == "PB-20K-BLK").values(lead_time_days=3))
    assert (await _forecast(db, clock))["PB-20K-BLK"].hours_to_stockout == pytest.approx(30, abs=0.5)


async def test_the_reply_says_when_and_the_button_opens_one_purchase_task(selling, config, clock):
    db = selling
    intent = Intent("inventory.stockout_forecast", {"extra_orders": 0, "hours": 48, "limit": 3}, 0.95)
    dispatcher = Dispatcher(db, ScriptedParser({"断货预测": intent}), config, clock, addresses=Addresses({"sandbox"}))
    reply = (await dispatcher.prepare(ChatMessage(Origin("sandbox", "zhaoqiang"), "断货预测", "m1", clock()))).reply
    row = next(r for r in reply.table.rows if r[0].startswith("PB-20K-BLK"))
    assert row[4] == "约 30 小时后断货"
    button = next(b for b in reply.card.buttons if b.key.startswith("purchase:PB-20K-BLK*"))
    qty = int(button.key.rsplit("*", 1)[1])

    async def click(n):
        event = CardAction(Origin("sandbox", "zhaoqiang"), button.key, f"c{n}", clock())
        prepared = await dispatcher.prepare(event)
        async with db.write() as s:
            return await dispatcher(event, s, prepared)

    first = await click(1)
    assert f"已给 何平 开采购任务：PB-20K-BLK ×{qty}" in first.text
    second = await click(2)
    assert "今天已经开过采购任务" in second.text
    async with db.read() as s:
        task = (await s.execute(select(Task).where(Task.type == "purchase"))).scalar_one()
        assert (task.assignee, task.data["qty"], task.state) == ("heping", qty, "open")
        sent = (
            (await s.execute(select(OutboxMessage).where(OutboxMessage.destination == "user:heping"))).scalars().all()
        )
        assert len(sent) == 1 and "PB-20K-BLK" in sent[0].payload["text"]
