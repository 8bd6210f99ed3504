"""Stock in: receiving files and lines, orders waiting at 采购计划 released in promise order, stock counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from orderbot.core.errors import DomainError, PermissionDenied
from orderbot.core.models import AuditEntry, StockMovement, StockReceipt
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import get_order, ingest_order
from orderbot.core.stock import ledger
from orderbot.core.stock.receiving import ReceiptLine, count_stock, receive_lines
from orderbot.tools.stock_import import receive_file

from tests.helpers import add_products, order_json


async def _order(db, config, clock, no, day, lines):
    async with db.write() as s:
        await ingest_order(
            s,
            parse_order(order_json(no, created_at=f"2026-02-{day:02d}T10:00:00+08:00", lines=lines)),
            source="test",
            config=config,
            now=clock(),
        )


@pytest.fixture
async def waiting(db, config, clock):
    """Five paid orders with no stock: all wait at 采购计划; promise dates follow the order days."""
    async with db.write() as s:
        await add_products(s, config, stock=0, at=clock())
    await _order(db, config, clock, "SO202602010005", 5, [{"sku": "PB-20K-BLK", "qty": 30}])
    await _order(db, config, clock, "SO202602010001", 1, [{"sku": "PB-20K-BLK", "qty": 10}])
    await _order(
        db, config, clock, "SO202602010003", 3, [{"sku": "PB-20K-BLK", "qty": 20}, {"sku": "EB-TWS-WHT", "qty": 1}]
    )
    await _order(db, config, clock, "SO202602010002", 2, [{"sku": "PB-20K-BLK", "qty": 15}])
    await _order(db, config, clock, "SO202602010004", 4, [{"sku": "PB-20K-BLK", "qty": 40}])
    return db


async def _invariant(s, sku):
    level = await ledger.levels(s, sku)
    assert await ledger.ledger_totals(s, sku) == (level.on_hand, level.reserved)
    return level


async def test_receipt_releases_waiting_orders_in_promise_order_with_exact_reservations(waiting, clock):
    db = waiting
    async with db.write() as s:
        assert (await get_order(s, "SO202602010001")).stage == "purchase"
        result = await receive_lines(
            s, [ReceiptLine("PB-20K-BLK", 60, "B2612", "PO-1")], now=clock(), actor="zhangsan", source="chat"
        )
    # 10 (day 1) + 15 (day 2) + 20 (day 3) = 45 fit; day 4 needs 40 > 15 left: it and day 5 keep waiting
    assert [(a.order_no, a.qty) for a in result.allocations] == [
        ("SO202602010001", 10),
        ("SO202602010002", 15),
        ("SO202602010003", 20),
    ]
    assert result.released == ["SO202602010001", "SO202602010002"]  # 0003 still lacks EB-TWS-WHT
    async with db.read() as s:
        level = await _invariant(s, "PB-20K-BLK")
        assert (level.on_hand, level.reserved) == (60, 45)
        for no, qty in (("SO202602010001", 10), ("SO202602010002", 15), ("SO202602010003", 20)):
            assert await ledger.held_for_order(s, no) == {"PB-20K-BLK": qty}
        assert await ledger.held_for_order(s, "SO202602010004") == {}
        stages = {
            no: (await get_order(s, no)).stage
            for no in ("SO202602010001", "SO202602010002", "SO202602010003", "SO202602010004")
        }
    assert stages == {
        "SO202602010001": "qc",
        "SO202602010002": "qc",
        "SO202602010003": "purchase",
        "SO202602010004": "purchase",
    }
    # the missing earphone arrives: 0003 is complete and moves on, without reserving its PB twice
    async with db.write() as s:
        result = await receive_lines(
            s, [ReceiptLine("EB-TWS-WHT", 5, "B1", None)], now=clock(), actor="x", source="chat"
        )
    assert result.released == ["SO202602010003"]
    async with db.read() as s:
        assert await ledger.held_for_order(s, "SO202602010003") == {"PB-20K-BLK": 20, "EB-TWS-WHT": 1}
        assert (await get_order(s, "SO202602010003")).stage == "qc"
        await _invariant(s, "EB-TWS-WHT")


async def test_receive_file_bad_rows_idempotence_and_due_lines(waiting, config, clock, tmp_path):
    db = waiting
    later = (clock() + timedelta(days=3)).astimezone().strftime("%Y-%m-%d %H:%M")
    path = tmp_path / "receipts.csv"
    path.write_text(
        "商品编码,数量,批次,采购单号,预计到货\n"
        "PB-20K-BLK,25,B2612,PO-1,\n"
        "NOPE-1,5,B1,,\n"
        "EB-TWS-WHT,0,B1,,\n"
        "CASE-IP15-CLR,,,,\n"
        f"CASE-IP15-CLR,300,B7,PO-2,{later}\n",
        encoding="utf-8",
    )
    report = await receive_file(db, path, config=config, now=clock)
    assert (report.received, report.due, report.unchanged) == (1, 1, 0)
    assert report.released == ["SO202602010001", "SO202602010002"]
    rejected = dict(report.rejected)
    assert rejected["第 3 行"].startswith("商品编码: 未知SKU NOPE-1")
    assert rejected["第 4 行"].startswith("数量: ")
    assert "数量: 必填" in rejected["第 5 行"] and "批次: 必填" in rejected["第 5 行"]
    again = await receive_file(db, path, config=config, now=clock)
    assert (again.received, again.due, again.unchanged, again.released) == (0, 0, 2, [])
    async with db.read() as s:
        assert (await _invariant(s, "PB-20K-BLK")).on_hand == 25
        case = await _invariant(s, "CASE-IP15-CLR")
        assert (case.on_hand, case.in_transit) == (0, 300)
    # the announced line arrives (short): booked once, no longer in transit
    path.write_text("sku,qty,batch,po_no\nCASE-IP15-CLR,290,B7,PO-2\n", encoding="utf-8")
    report = await receive_file(db, path, config=config, now=clock)
    assert report.received == 1
    async with db.read() as s:
        case = await _invariant(s, "CASE-IP15-CLR")
        assert (case.on_hand, case.in_transit) == (290, 0)
        states = (await s.execute(select(StockReceipt.state, func.count()).group_by(StockReceipt.state))).all()
        assert dict(states) == {"received": 2}


async def test_stock_count_books_the_difference_with_who_and_is_for_leads(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, stock=500, at=clock())
    async with db.write() as s:
        with pytest.raises(PermissionDenied):
            await count_stock(s, "PB-20K-BLK", 480, now=clock(), actor="zhangsan", roles={"warehouse"})
    async with db.write() as s:
        result = await count_stock(s, "PB-20K-BLK", 480, now=clock(), actor="zhaoqiang", roles={"warehouse_lead"})
    assert (result.before, result.delta) == (500, -20)
    async with db.read() as s:
        assert (await _invariant(s, "PB-20K-BLK")).on_hand == 480
        move = (await s.execute(select(StockMovement).where(StockMovement.kind == "adjustment"))).scalar_one()
        assert (move.qty, move.actor) == (-20, "zhaoqiang") and "实盘 480" in move.note
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.action == "stock.count"))).scalar_one()
        assert audit.actor == "zhaoqiang" and audit.subject == "PB-20K-BLK"
    async with db.write() as s:
        same = await count_stock(s, "PB-20K-BLK", 480, now=clock(), actor="zhaoqiang", roles={"warehouse_lead"})
    assert same.delta == 0
    async with db.write() as s:
        await ledger.reserve(s, "PB-20K-BLK", 100, at=clock(), order_no="SO1")
    async with db.write() as s:
        with pytest.raises(DomainError, match="少于已为订单占用的 100"):
            await count_stock(s, "PB-20K-BLK", 90, now=clock(), actor="zhaoqiang", roles={"warehouse_lead"})
