"""The fast scan path (prebuilt Core statements) on SQLite and PostgreSQL: the same records as the ORM use cases,
a short fixed run of statements, and the concurrency guarantees with truly concurrent transactions."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, UTC

import pytest
from sqlalchemy import event, func, select

from orderbot.core.errors import IllegalTransition
from orderbot.core.models import Communication, Order, OrderEvent, OutboxMessage, Package, Scan, StockMovement, Task
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import Timeline, add_event, change_status, get_order, ingest_order, move_stage
from orderbot.core.staff import sync_staff
from orderbot.core.stock import ledger
from orderbot.core.warehouse.labels import label_text
from orderbot.core.warehouse.scanning import scan_package
from orderbot.messaging.addresses import Addresses

from tests.helpers import add_products, order_json

SECRET = "fast-secret"
NOW = datetime(2026, 2, 10, 2, 0, tzinfo=UTC)


def _label(order_no: str, sku: str, k: int) -> str:
    return label_text(SECRET, order_no, sku, "B260201", k)


async def _scan(session, config, order_no: str, sku: str, k: int, *, staff: str = "zhangsan", now=NOW):
    return await scan_package(
        session,
        raw=_label(order_no, sku, k),
        staff_id=staff,
        platform_user=staff,
        station="pack-1",
        now=now,
        config=config,
        secret=SECRET,
    )


@pytest.fixture
async def shop(db, config, snapshots):
    async def build() -> None:
        async with db.write() as s:
            await sync_staff(s, config)
            await add_products(s, config, stock=50, at=NOW)
            for no, lines in (
                ("SO202602100001", [{"sku": "CASE-IP15-CLR", "qty": 1}]),
                ("SO202602100002", [{"sku": "CASE-IP15-CLR", "qty": 2}]),
                ("SO202602100003", [{"sku": "PB-20K-BLK", "qty": 1}, {"sku": "CASE-IP15-CLR", "qty": 3}]),
                ("SO202602100004", [{"sku": "PB-20K-BLK", "qty": 1}, {"sku": "CASE-IP15-CLR", "qty": 3}]),
            ):
                # each with its waybill already, so the last scan tells the customer (and writes that record)
                await ingest_order(
                    s,
                    parse_order(order_json(no, lines=lines, tracking_no=f"YT00000{no[-4:]}CN")),
                    source="test",
                    config=config,
                    now=NOW,
                )

    await snapshots.seed(db, "scan_fast", build)
    return db


def _timeline(rows):
    return [(e.kind, e.stage, e.status, e.source, e.actor, e.detail) for e in rows]


async def _events(s, order_no: str):
    order = await get_order(s, order_no)
    rows = (
        (
            await s.execute(
                select(OrderEvent)
                .where(OrderEvent.order_id == order.id, OrderEvent.source == "scan")
                .order_by(OrderEvent.id)
            )
        )
        .scalars()
        .all()
    )
    return order, _timeline(rows)


async def test_a_scanned_order_has_the_same_record_as_the_orm_use_cases_write(shop, config):
    """Two identical two-package orders: one scanned, one moved by the ORM use cases the scan used to call."""
    async with shop.write() as s:
        first = await _scan(s, config, "SO202602100003", "PB-20K-BLK", 1)
        last = await _scan(s, config, "SO202602100003", "CASE-IP15-CLR", 2)
    assert first.ok and last.ok and last.shipped_order and not first.shipped_order
    async with shop.write() as s:
        twin = await get_order(s, "SO202602100004")
        await move_stage(s, twin, "packing", now=NOW, source="scan", actor="zhangsan", detail="开始扫码出库")
        add_event(s, twin, at=NOW, kind="scan", source="scan", actor="zhangsan", detail="包裹 1/2 扫码出库（pack-1）")
        add_event(s, twin, at=NOW, kind="scan", source="scan", actor="zhangsan", detail="包裹 2/2 扫码出库（pack-1）")
        await change_status(s, twin, "shipped", now=NOW, source="scan", actor="zhangsan", reason="最后一个包裹扫码出库")
    async with shop.read() as s:
        scanned, scanned_events = await _events(s, "SO202602100003")
        moved, moved_events = await _events(s, "SO202602100004")
    assert scanned_events == moved_events
    assert [e[0] for e in scanned_events] == ["stage", "scan", "scan", "status"]
    assert scanned_events[-1][5] == "已付款 → 已发货（最后一个包裹扫码出库）"
    for attr in ("status", "stage", "stage_since", "shipped_at", "updated_at"):
        assert getattr(scanned, attr) == getattr(moved, attr), attr
    assert (scanned.status, scanned.stage, scanned.shipped_at) == ("shipped", "routing", NOW)


async def test_a_good_scan_is_eight_statements_without_savepoints(shop, config):
    engine = shop.inline or shop.engine
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        word = statement.split(None, 1)[0].upper()
        if word != "BEGIN":  # the unit of work's own, emitted with its first statement
            seen.append(word)

    async with shop.write() as s:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            result = await _scan(s, config, "SO202602100001", "CASE-IP15-CLR", 1)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert result.ok and result.shipped_order and result.customer is not None
    # the joined select; stock level and movement; package; scan; order; its events; the customer's record
    assert seen == ["SELECT", "UPDATE", "INSERT", "UPDATE", "INSERT", "UPDATE", "INSERT", "INSERT"]


async def test_an_unreachable_customer_costs_the_scan_two_inserts_and_the_task_names_the_order(shop, config):
    """The last scan of an order whose customer has no openid or email (serve with only WeCom): the dead notice
    row and the customer-service task, two prebuilt INSERTs; the order's id comes with the scan's notice, so it is
    not looked up again."""
    engine = shop.inline or shop.engine
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement.split(None, 1)[0].upper())

    async with shop.write() as s:
        result = await _scan(s, config, "SO202602100001", "CASE-IP15-CLR", 1)
        order_id = (await s.execute(select(Order.id).where(Order.order_no == "SO202602100001"))).scalar_one()
        assert result.customer is not None and result.customer.order_id == order_id
        event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            reachable = await Addresses({"wecom"}).notify_customer(s, result.customer, now=NOW)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert reachable is False
    assert seen == ["INSERT", "INSERT"]
    async with shop.read() as s:
        (task,) = (await s.execute(select(Task).where(Task.type == "notify_customer"))).scalars()
        (dead,) = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == "ship:SO202602100001"))
        ).scalars()
    assert (task.order_id, task.state, task.key) == (order_id, "open", "notify_customer:SO202602100001")
    assert (dead.state, dead.destination) == ("dead", f"customer:{result.customer.customer_id}")


async def test_an_orm_copy_loaded_earlier_in_the_unit_of_work_sees_the_scan(shop, config):
    async with shop.write() as s:
        before = await get_order(s, "SO202602100001")
        assert before.status == "paid"
        assert (await _scan(s, config, "SO202602100001", "CASE-IP15-CLR", 1)).ok
        after = await get_order(s, "SO202602100001")
        assert after is before and (after.status, after.stage) == ("shipped", "routing")
        package = (await s.execute(select(Package).where(Package.order_id == after.id))).scalar_one()
        assert package.scanned_by == "zhangsan"


async def test_stock_not_reserved_is_refused_and_nothing_moves(shop, config):
    async with shop.write() as s:
        await ledger.release(s, "CASE-IP15-CLR", 1 + 2 + 3 + 3, at=NOW, order_no="SO202602100001", note="test")
        before = await ledger.levels(s, "CASE-IP15-CLR")
    async with shop.write() as s:
        result = await _scan(s, config, "SO202602100001", "CASE-IP15-CLR", 1)
    assert result.outcome == "not_reserved" and result.message == "已记录，值班组长会处理"
    async with shop.read() as s:
        assert await ledger.levels(s, "CASE-IP15-CLR") == before
        order = await get_order(s, "SO202602100001")
        assert (order.status, order.stage) == ("paid", "inventory")
        assert (await s.execute(select(Package.scanned_at).where(Package.order_id == order.id))).scalar() is None
        assert (
            await s.execute(select(func.count()).select_from(StockMovement).where(StockMovement.kind == "shipment"))
        ).scalar() == 0
        assert (await s.execute(select(Scan.outcome))).scalars().all() == ["not_reserved"]
        assert (
            await s.execute(select(func.count()).select_from(Task).where(Task.type == "scan_exception"))
        ).scalar() == 1


def test_the_timeline_refuses_illegal_moves_before_anything_is_written():
    with pytest.raises(IllegalTransition):
        Timeline(1, "cancelled", "inventory", now=NOW, source="scan").change_status("shipped")
    with pytest.raises(IllegalTransition):
        Timeline(1, "paid", "packing", now=NOW, source="scan").move_stage("inventory")
    with pytest.raises(ValueError):  # moves stock: only through change_status
        Timeline(1, "paid", "packing", now=NOW, source="scan").change_status("cancelled")
    plan = Timeline(1, "paid", "inventory", now=NOW, source="scan", actor="zhangsan")
    plan.move_stage("packing", "开始扫码出库")
    plan.change_status("shipped", "最后一个包裹扫码出库")
    assert plan.values == {
        "status": "shipped",
        "stage": "routing",
        "stage_since": NOW,
        "updated_at": NOW,
        "shipped_at": NOW,
    }
    assert [(e["kind"], e["stage"], e["status"]) for e in plan.events] == [
        ("stage", "packing", "paid"),
        ("status", "routing", "shipped"),
    ]


async def _held_scan(
    db, config, order_no: str, sku: str, k: int, staff: str, scanned: asyncio.Event | None, hold: float = 0.0
):
    """One scan in its own unit of work; with `hold`, the transaction stays open that long after the scan."""
    async with db.write() as s:
        result = await _scan(s, config, order_no, sku, k, staff=staff, now=NOW + timedelta(seconds=1))
        if scanned is not None:
            scanned.set()
        await asyncio.sleep(hold)
    return result


async def _overlapping(db, config, first: tuple, second: tuple):
    """`second` starts while `first` holds its transaction open (PostgreSQL: they truly overlap; SQLite: the
    second waits for the writer)."""
    scanned = asyncio.Event()
    a = asyncio.ensure_future(_held_scan(db, config, *first, "zhangsan", scanned, hold=0.3))
    await scanned.wait()
    b = asyncio.ensure_future(_held_scan(db, config, *second, "zhaoqiang", None))
    return await asyncio.gather(a, b)


async def _overlapping_case_scans(shop, config, first_order: str, second_order: str):
    """Package 1 of each order (CASE-IP15-CLR) scanned at once: the results, how far on hand and reserved fell,
    and whether the ledger still sums to the level."""
    async with shop.read() as s:
        before = await ledger.levels(s, "CASE-IP15-CLR")
    results = await _overlapping(shop, config, (first_order, "CASE-IP15-CLR", 1), (second_order, "CASE-IP15-CLR", 1))
    async with shop.read() as s:
        after = await ledger.levels(s, "CASE-IP15-CLR")
        balanced = await ledger.ledger_totals(s, "CASE-IP15-CLR") == (after.on_hand, after.reserved)
    return results, (before.on_hand - after.on_hand, before.reserved - after.reserved), balanced


async def test_the_same_package_scanned_twice_at_once_ships_once(shop, config):
    results, fell, balanced = await _overlapping_case_scans(shop, config, "SO202602100002", "SO202602100002")
    assert [r.outcome for r in results] == ["ok", "repeat"]
    assert results[1].message.endswith("由 张三 扫描，无需重复出库")
    assert fell == (2, 2) and balanced
    async with shop.read() as s:
        assert (await s.execute(select(func.count()).select_from(Communication))).scalar() == 1


async def test_two_packers_shipping_the_same_sku_at_once_lose_no_movement(shop, config):
    results, fell, balanced = await _overlapping_case_scans(shop, config, "SO202602100001", "SO202602100002")
    assert [r.outcome for r in results] == ["ok", "ok"]
    assert fell == (3, 3) and balanced


async def test_the_last_two_packages_scanned_at_once_ship_the_order_exactly_once(shop, config):
    results = await _overlapping(
        shop, config, ("SO202602100003", "PB-20K-BLK", 1), ("SO202602100003", "CASE-IP15-CLR", 2)
    )
    assert [(r.outcome, r.shipped_order) for r in results] == [("ok", False), ("ok", True)]
    async with shop.read() as s:
        order = await get_order(s, "SO202602100003")
        assert (order.status, order.stage) == ("shipped", "routing")
        kinds = (
            (
                await s.execute(
                    select(OrderEvent.kind)
                    .where(OrderEvent.order_id == order.id, OrderEvent.source == "scan")
                    .order_by(OrderEvent.id)
                )
            )
            .scalars()
            .all()
        )
        assert kinds == ["stage", "scan", "scan", "status"]
        assert (
            await s.execute(select(func.count()).select_from(Communication).where(Communication.order_id == order.id))
        ).scalar() == 1
        assert (await s.execute(select(Order.shipped_at).where(Order.id == order.id))).scalar() == NOW + timedelta(
            seconds=1
        )
