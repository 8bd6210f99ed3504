"""Order ingest on SQLite and PostgreSQL: creation, promised date, customs task, stock, idempotence, updates."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text

from orderbot.core.errors import IllegalTransition, InvalidOrder
from orderbot.core.models import Customer, Order, OrderEvent, Package, Task
from orderbot.core.orders.lists import held_for_review, held_for_review_query
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import change_status, get_order, ingest_order, set_channel_frozen
from orderbot.core.stock import ledger

from tests.helpers import add_products, order_json


async def _ingest(db, config, clock, data, source="webhook"):
    async with db.write() as s:
        return await ingest_order(s, parse_order(data), source=source, config=config, now=clock())


async def test_new_order_is_created_with_promise_grade_task_and_reservation(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    result = await _ingest(db, config, clock, order_json())
    assert result.outcome == "created"
    async with db.read() as s:
        order = await get_order(s, "so202602010001")
        assert order.amount_cents == 123450
        assert order.promised_date == date(2026, 2, 6)  # 深圳 → US: order day + 5
        assert order.customs_grade == "C"  # 移动电源 is grade C
        assert (order.status, order.stage) == ("paid", "inventory")
        customer = await s.get(Customer, "C0001")
        assert (customer.province, customer.region) == ("浙江", "华东")
        tasks = (await s.execute(select(Task).where(Task.order_id == order.id))).scalars().all()
        assert [t.type for t in tasks] == ["customs_docs"] and "报关资料待补" in tasks[0].subject
        assert await ledger.held_for_order(s, order.order_no) == {"PB-20K-BLK": 2}
        lv = await ledger.levels(s, "PB-20K-BLK")
        assert (lv.on_hand, lv.reserved, lv.available) == (100, 2, 98)
        packages = (await s.execute(select(Package).where(Package.order_id == order.id))).scalars().all()
        assert [(p.package_no, p.sku, p.qty) for p in packages] == [(1, "PB-20K-BLK", 2)]


async def test_other_lanes_get_eight_days(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    await _ingest(db, config, clock, order_json(origin="义乌", dest_country="US"))
    await _ingest(db, config, clock, order_json("SO202602010002", dest_country="DE"))
    async with db.read() as s:
        assert (await get_order(s, "SO202602010001")).promised_date == date(2026, 2, 9)
        assert (await get_order(s, "SO202602010002")).promised_date == date(2026, 2, 9)


async def test_grade_a_order_opens_no_customs_task(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    await _ingest(db, config, clock, order_json(lines=[{"sku": "CASE-IP15-CLR", "qty": 1}]))
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Task))).scalar() == 0


async def test_same_event_twice_changes_nothing(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    assert (await _ingest(db, config, clock, order_json())).outcome == "created"
    clock.advance(minutes=5)
    assert (await _ingest(db, config, clock, order_json())).outcome == "unchanged"
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Order))).scalar() == 1
        assert (await s.execute(select(func.count()).select_from(OrderEvent))).scalar() == 2  # created, stage
        assert (await ledger.levels(s, "PB-20K-BLK")).reserved == 2


async def test_update_and_cancel_release_stock(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    await _ingest(db, config, clock, order_json())
    r = await _ingest(db, config, clock, order_json(notes="改地址", status="cancelled", cancel_reason="客户取消"))
    assert r.outcome == "updated" and set(r.changes) == {"notes", "status"}
    async with db.read() as s:
        order = await get_order(s, "SO202602010001")
        assert order.status == "cancelled" and order.cancel_reason == "客户取消"
        assert await ledger.held_for_order(s, order.order_no) == {}
        assert (await ledger.levels(s, "PB-20K-BLK")).reserved == 0
        assert await ledger.ledger_totals(s, "PB-20K-BLK") == (100, 0)


async def test_short_stock_goes_to_purchase_plan(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, stock=1, at=clock())
    await _ingest(db, config, clock, order_json())
    async with db.read() as s:
        order = await get_order(s, "SO202602010001")
        assert order.stage == "purchase"
        events = (await s.execute(select(OrderEvent.detail).where(OrderEvent.order_id == order.id))).scalars().all()
        assert any("转采购计划" in (d or "") for d in events)


async def test_frozen_channel_order_is_held_for_review(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
        await set_channel_frozen(s, "tiktok", True, actor="heping", reason="取消率超标", now=clock())
    r = await _ingest(db, config, clock, order_json(channel="TikTok"))
    assert r.review_hold
    async with db.read() as s:
        order = await get_order(s, "SO202602010001")
        assert order.review_hold and order.stage == "payment"
        assert (await ledger.levels(s, "PB-20K-BLK")).reserved == 0


async def test_the_held_orders_of_a_channel_are_counted_through_their_partial_index(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
        await set_channel_frozen(s, "tiktok", True, actor="heping", reason="取消率超标", now=clock())
    await _ingest(db, config, clock, order_json(channel="TikTok"))
    await _ingest(db, config, clock, order_json(order_no="SO202602010002", channel="TikTok"))
    async with db.read() as s:
        assert await held_for_review(s, "tiktok") == 2 and await held_for_review(s, "shopify") == 0
        sql = str(
            held_for_review_query("tiktok").compile(dialect=s.bind.dialect, compile_kwargs={"literal_binds": True})
        )
        if s.bind.dialect.name == "sqlite":
            plan = " ".join(str(r) for r in (await s.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all())
        else:  # on a near-empty table PostgreSQL would scan it: only an index whose WHERE the query implies is left
            await s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in (await s.execute(text(f"EXPLAIN {sql}"))).all())
    assert "ix_orders_held_channel" in plan, plan


async def test_unknown_sku_is_rejected_with_reason(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    with pytest.raises(InvalidOrder, match="未知SKU：NOPE-1"):
        await _ingest(db, config, clock, order_json(lines=[{"sku": "nope-1", "qty": 1}]))
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Order))).scalar() == 0


async def test_illegal_transition_is_named_and_changes_nothing(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    await _ingest(db, config, clock, order_json())
    with pytest.raises(IllegalTransition, match="不能从「已付款」变为「已签收」"):
        async with db.write() as s:
            order = await get_order(s, "SO202602010001")
            await change_status(s, order, "delivered", now=clock(), source="test")
    async with db.read() as s:
        assert (await get_order(s, "SO202602010001")).status == "paid"
