"""Report aggregates on SQLite and PostgreSQL against a small, hand-built business with known answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC

import pytest
from sqlalchemy import update

from orderbot.core.models import Carrier, CarrierClause, Delay, Order
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import get_order, ingest_order
from orderbot.core.reports.delays import claim_evidence, delay_reasons, top_delayed_customers
from orderbot.core.reports.inventory import sku_stock, stockout_forecast
from orderbot.core.reports.metrics import daily_figures, series
from orderbot.core.reports.pipeline import pipeline
from orderbot.core.staff import sync_staff
from orderbot.core.stock import ledger

from tests.helpers import add_products, order_json

NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)  # 09:00 on 10 Feb in Shanghai
TODAY = date(2026, 2, 10)
UTC = UTC


async def _order(s, config, no, customer, province, created, *, status="paid", lines=None, channel="amazon"):
    await ingest_order(
        s,
        parse_order(
            order_json(
                no,
                customer={"id": customer, "name": f"客户{customer}", "province": province},
                channel=channel,
                created_at=created.isoformat(),
                status=status,
                lines=lines or [{"sku": "CASE-IP15-CLR", "qty": 1}],
            )
        ),
        source="test",
        config=config,
        now=created,
    )
    return await get_order(s, no)


async def build_business(db, config) -> None:
    """Orders created 1 Feb (深圳→US: due 6 Feb). C1 (浙江) has three late, C2 (广东) one, C3 (浙江) none."""
    created = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)
    async with db.write() as s:
        await add_products(s, config, stock=500, at=created)
        s.add(Carrier(code="COSCO", name="中远海运"))
        await s.flush()
        s.add(
            CarrierClause(
                carrier_code="COSCO",
                clause_no="8.2",
                title="不可抗力与港口罢工",
                text="因港口罢工导致的船期变更，承运人应在48小时内书面通知。",
            )
        )
        plan = [
            ("SO202602010001", "C1", "浙江", "late"),
            ("SO202602010002", "C1", "浙江", "late"),
            ("SO202602010003", "C1", "浙江", "open_late"),
            ("SO202602010004", "C2", "广东", "late"),
            ("SO202602010005", "C3", "浙江", "on_time"),
            ("SO202602010006", "C2", "广东", "on_time"),
        ]
        for no, customer, province, fate in plan:
            order = await _order(s, config, no, customer, province, created)
            if fate in ("late", "on_time"):
                delivered = datetime(2026, 2, 8 if fate == "late" else 5, 4, tzinfo=UTC)
                await s.execute(
                    update(Order)
                    .where(Order.id == order.id)
                    .values(
                        status="delivered",
                        stage="delivered",
                        shipped_at=created + timedelta(days=1),
                        delivered_at=delivered,
                    )
                )
            if fate in ("late", "open_late"):
                reason, lane = ("港口罢工", "深圳-洛杉矶") if customer == "C1" else ("清关查验", "深圳-纽约")
                s.add(
                    Delay(
                        order_id=order.id,
                        reason=reason,
                        lane=lane,
                        cause="深圳-洛杉矶线因美西港口罢工导致船期跳变" if reason == "港口罢工" else "美国海关查验",
                        carrier_code="COSCO",
                        clause_no="8.2" if reason == "港口罢工" else None,
                        delay_days=2,
                        recorded_at=datetime(2026, 2, 7, 3, tzinfo=UTC),
                    )
                )


@pytest.fixture
async def business(db, config, snapshots):
    """The business of `build_business` (written once per session and database kind, then copied in)."""
    await snapshots.seed(db, "business", lambda: build_business(db, config))
    return db


@pytest.fixture
async def staffed_business(db, config, snapshots):
    """`business` with the example config's staff, for the chat's tests."""

    async def build() -> None:
        await build_business(db, config)
        async with db.write() as s:
            await sync_staff(s, config)

    await snapshots.seed(db, "business+staff", build)
    return db


async def test_top_delayed_customers_by_region_with_main_reason(business):
    async with business.read() as s:
        rows = await top_delayed_customers(
            s, date_from=date(2026, 2, 6), date_to=date(2026, 2, 6), today=TODAY, region="华东", limit=3
        )
        assert [(r.customer_id, r.delayed, r.due, r.main_reason) for r in rows] == [("C1", 3, 3, "港口罢工")]
        everyone = await top_delayed_customers(
            s, date_from=date(2026, 2, 1), date_to=date(2026, 2, 9), today=TODAY, limit=5
        )
        assert [(r.customer_id, r.delayed) for r in everyone] == [("C1", 3), ("C2", 1)]
        by_province = await top_delayed_customers(
            s, date_from=date(2026, 2, 6), date_to=date(2026, 2, 6), today=TODAY, province="广东"
        )
        assert [(r.customer_id, r.main_reason) for r in by_province] == [("C2", "清关查验")]
        assert await top_delayed_customers(s, date_from=date(2026, 2, 9), date_to=date(2026, 2, 9), today=TODAY) == []


async def test_an_override_moves_the_due_date(business):
    async with business.write() as s:
        await s.execute(
            update(Order).where(Order.order_no == "SO202602010003").values(promised_override=date(2026, 2, 20))
        )
    async with business.read() as s:
        rows = await top_delayed_customers(s, date_from=date(2026, 2, 6), date_to=date(2026, 2, 6), today=TODAY)
    assert [(r.customer_id, r.delayed) for r in rows] == [("C1", 2), ("C2", 1)]


async def test_delay_reasons_in_the_seeds_words_and_evidence_pack(business):
    async with business.read() as s:
        causes = await delay_reasons(s, date_from=date(2026, 2, 4), date_to=date(2026, 2, 10), limit=5)
        assert [c.sentence() for c in causes] == [
            "深圳-洛杉矶线因美西港口罢工导致船期跳变，影响本周期3单，中远海运合同第8.2条",
            "深圳-纽约线因美国海关查验，影响本周期1单",
        ]
        rows, clause = await claim_evidence(
            s, reason="港口罢工", lane="深圳-洛杉矶", date_from=date(2026, 2, 4), date_to=date(2026, 2, 10)
        )
    assert [r.order_no for r in rows] == ["SO202602010001", "SO202602010002", "SO202602010003"]
    assert rows[0].promised == date(2026, 2, 6) and rows[0].delivered.startswith("2026-02-08")
    assert rows[2].delivered is None
    assert clause.clause_no == "8.2" and "港口罢工" in clause.text


async def test_pipeline_counts_and_stuck_orders(business):
    async with business.write() as s:
        await s.execute(
            update(Order)
            .where(Order.order_no == "SO202602010003")
            .values(stage="packing", stage_since=NOW - timedelta(hours=30))
        )
    async with business.read() as s:
        stages = {x.stage: x for x in await pipeline(s, now=NOW)}
    assert stages["packing"].orders == 1 and stages["packing"].stuck == 1
    assert stages["packing"].worst == (("SO202602010003", 30.0),)
    assert stages["inventory"].orders == 0 and "delivered" not in stages
    assert list(stages)[0] == "payment" and len(stages) == 10


async def test_series_and_daily_figures(business):
    async with business.read() as s:
        orders = await series(s, "orders", date_from=date(2026, 1, 31), date_to=date(2026, 2, 2), today=TODAY)
        assert orders == [(date(2026, 1, 31), 0), (date(2026, 2, 1), 6), (date(2026, 2, 2), 0)]
        delayed = await series(s, "delayed", date_from=date(2026, 2, 5), date_to=date(2026, 2, 7), today=TODAY)
        assert delayed == [(date(2026, 2, 5), 0), (date(2026, 2, 6), 4), (date(2026, 2, 7), 0)]
        shipped = await series(
            s, "shipped", date_from=date(2026, 2, 2), date_to=date(2026, 2, 2), today=TODAY, channel="amazon"
        )
        assert shipped == [(date(2026, 2, 2), 5)]
        figures = await daily_figures(s, date(2026, 2, 1), today=TODAY)
    assert (figures.orders, figures.cancelled, figures.cancel_rate) == (6, 0, 0.0)
    assert figures.top_reasons == ()


async def test_cancel_rate_by_local_day(db, config):
    late_evening = datetime(2026, 2, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai: still 1 Feb
    async with db.write() as s:
        await add_products(s, config, at=late_evening)
        await _order(s, config, "SO202602010101", "C9", "上海", late_evening)
        await _order(s, config, "SO202602010102", "C9", "上海", late_evening, status="cancelled")
        await _order(s, config, "SO202602020103", "C9", "上海", late_evening + timedelta(hours=1))
    async with db.read() as s:
        rate = await series(s, "cancel_rate", date_from=date(2026, 2, 1), date_to=date(2026, 2, 2), today=TODAY)
    assert rate == [(date(2026, 2, 1), 0.5), (date(2026, 2, 2), 0.0)]


async def test_inventory_cover_and_stockout_forecast(db, config):
    async with db.write() as s:
        await add_products(s, config, stock=0, at=NOW - timedelta(days=20))
        await ledger.receive(s, "PB-20K-BLK", 100, at=NOW - timedelta(days=20))
        await ledger.receive(s, "CASE-IP15-CLR", 1000, at=NOW - timedelta(days=20))
        await ledger.receive(s, "EB-TWS-WHT", 30, at=NOW - timedelta(days=20))
        for i in range(14):  # shipped in the last 14 days: PB 2/day, CASE 1/day
            at = NOW - timedelta(days=i, hours=1)
            for sku, qty in (("PB-20K-BLK", 2), ("CASE-IP15-CLR", 1)):
                await ledger.reserve(s, sku, qty, at=at, order_no=f"SOX{i}")
                await ledger.ship(s, sku, qty, at=at, order_no=f"SOX{i}")
        for i in range(10):  # recent orders: the product mix
            await _order(
                s,
                config,
                f"SO2026020900{i:02d}",
                "C1",
                "浙江",
                NOW - timedelta(days=1),
                lines=[{"sku": "PB-20K-BLK", "qty": 1}, {"sku": "EB-TWS-WHT", "qty": 2}],
            )
    async with db.read() as s:
        pb = await sku_stock(s, "PB-20K-BLK", now=NOW)
        assert (pb.on_hand, pb.reserved, pb.available, pb.daily_demand, pb.days_of_cover) == (72, 10, 62, 2.0, 31.0)
        forecast = await stockout_forecast(s, now=NOW, extra_orders=5000, hours=48, limit=3)
    # the mix comes from the ledger's reservations: the SOX test reservations count as demand with no order, so
    # the case runs out too (later); the surge arrives over 24 hours, so nothing is "out" before it starts
    assert [f.sku for f in forecast] == ["EB-TWS-WHT", "PB-20K-BLK", "CASE-IP15-CLR"]
    eb = forecast[0]
    assert eb.available == 10 and eb.hours_to_stockout < 0.1 and eb.buy >= eb.expected_demand - eb.available
    assert 1 < forecast[2].hours_to_stockout < 48
