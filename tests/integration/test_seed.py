"""`orderbot seed` on SQLite and PostgreSQL: determinism, a ledger that adds up, a state machine that holds,
and data rich enough for every later feature (regions, cancellations, delays, returns, repeat orders, cards)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import sqlite3
from collections import defaultdict
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text

from orderbot.core.causes import CAUSES
from orderbot.core.models import (
    Base,
    CarrierClause,
    Channel,
    Communication,
    Customer,
    Delay,
    Order,
    OrderEvent,
    OrderLine,
    Package,
    Product,
    Staff,
    StockLevel,
    StockMovement,
    Task,
)
from orderbot.core.orders.card import order_card
from orderbot.core.orders.customs import worst_grade
from orderbot.core.orders.promise import promised_date
from orderbot.core.orders.states import STATUS_STAGES, stage_allowed
from orderbot.core.regions import REGIONS
from orderbot.config import parse_config
from orderbot.tools.seed import DELAY_REASONS, DELAY_RECORDED, SeedRefused, run_seed, seed_database

from tests.conftest import EXAMPLE_CONFIG, PG_URL, _pg_schema_url, create_pg_schema, drop_pg_schema, open_database

NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)
ORDERS = 2000
SHIPPED = ("shipped", "delivered", "return_requested", "returned")
TRACKING = re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$")
pytestmark = pytest.mark.xdist_group("seed")  # one pytest-xdist worker seeds the shared world once per dialect


async def _seed(db, config, *, seed=7, orders=ORDERS, days=30):
    return await seed_database(db, orders=orders, days=days, seed=seed, config=config, now=NOW)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded_world(request, tmp_path_factory, sqlite_template):
    """(url, connect_args) of one database of each kind seeded once with ORDERS orders (seed 7), shared by the
    tests below that only read it: a file copied from the template, or a schema of its own."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("seeded") / "seeded.db"
        shutil.copy(sqlite_template, path)
        url_info = (f"sqlite+aiosqlite:///{path}", {})
    else:
        if not PG_URL:
            pytest.skip("ORDERBOT_TEST_PG_URL is not set: PostgreSQL cases skip locally (CI always runs them)")
        schema = create_pg_schema("seeded")
        request.addfinalizer(lambda: drop_pg_schema(schema))
        url_info = _pg_schema_url(schema)

    async def seed():
        db = open_database(*url_info)
        try:
            await _seed(db, parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_CONFIG)))
        finally:
            await db.dispose()

    asyncio.run(seed())
    return url_info


@pytest.fixture
async def seeded(seeded_world):
    """The module's seeded database, to read (a test that writes takes `db` and seeds its own)."""
    db = open_database(*seeded_world)
    yield db
    await db.dispose()


async def _all(db, stmt):
    async with db.read() as s:
        return (await s.execute(stmt)).all()


async def _fingerprint(db) -> str:
    """A hash over the columns that make the data what it is (not the surrogate ids)."""
    h = hashlib.sha256()
    for row in await _all(
        db,
        select(
            Order.order_no,
            Order.customer_id,
            Order.amount_cents,
            Order.status,
            Order.stage,
            Order.channel_code,
            Order.channel_order_id,
            Order.tracking_no,
            Order.created_at,
            Order.delivered_at,
            Order.promised_date,
            Order.cancel_reason,
        ).order_by(Order.order_no),
    ):
        h.update(repr(tuple(row)).encode())
    for table in (Customer, OrderLine, Package, OrderEvent, Delay, StockMovement, Communication, Task):
        h.update(repr(await _all(db, select(func.count()).select_from(table))).encode())
    h.update(
        repr(
            await _all(
                db,
                select(StockLevel.sku, StockLevel.on_hand, StockLevel.reserved, StockLevel.in_transit).order_by(
                    StockLevel.sku
                ),
            )
        ).encode()
    )
    h.update(
        repr(await _all(db, select(Delay.reason, Delay.cause, Delay.delay_days).order_by(Delay.order_id))).encode()
    )
    return h.hexdigest()


async def _wipe(db) -> None:
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())


@pytest.mark.slow
async def test_same_inputs_give_the_same_rows_and_another_seed_does_not(db, config):
    first = await _seed(db, config)
    assert first.orders == ORDERS and first.counts["customers"] == ORDERS // 8
    print_ = first.describe()
    assert "订单 2,000" in print_ and "秒" in print_
    fp1 = await _fingerprint(db)
    await _wipe(db)
    second = await _seed(db, config)
    assert await _fingerprint(db) == fp1
    assert second.counts == first.counts
    await _wipe(db)
    await _seed(db, config, seed=8)
    assert await _fingerprint(db) != fp1


async def test_stock_ledger_adds_up_and_reserves_exactly_the_open_orders(seeded, config):
    db = seeded
    levels = {lv.sku: lv for (lv,) in await _all(db, select(StockLevel))}
    sums = {
        sku: (int(a), int(b))
        for sku, a, b in await _all(
            db,
            select(StockMovement.sku, func.sum(StockMovement.d_on_hand), func.sum(StockMovement.d_reserved)).group_by(
                StockMovement.sku
            ),
        )
    }
    products = [sku for (sku,) in await _all(db, select(Product.sku))]
    assert len(products) >= 35 and "PB-20K-BLK" in products and set(levels) == set(products)
    for sku, lv in levels.items():
        assert (lv.on_hand, lv.reserved) == sums[sku], sku
        assert 0 <= lv.reserved <= lv.on_hand and lv.in_transit >= 0, sku
    # what is reserved is exactly the lines of paid orders that entered fulfilment (not waiting on purchase)
    expected: dict[str, int] = defaultdict(int)
    for sku, qty in await _all(
        db,
        select(OrderLine.sku, OrderLine.qty)
        .join(Order, Order.id == OrderLine.order_id)
        .where(Order.status == "paid", Order.stage.notin_(("payment", "purchase"))),
    ):
        expected[sku] += qty
    assert {s: lv.reserved for s, lv in levels.items() if lv.reserved} == dict(expected)
    assert sum(expected.values()) > 0
    # no order other than a paid one holds stock, and every shipped line left the warehouse exactly once
    held = await _all(
        db,
        select(Order.status, func.sum(StockMovement.d_reserved))
        .join(Order, Order.order_no == StockMovement.order_no)
        .group_by(Order.status),
    )
    assert all(total == 0 for status, total in held if status != "paid")
    shipped_qty = (
        await _all(
            db,
            select(func.sum(OrderLine.qty))
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.status.in_(SHIPPED)),
        )
    )[0][0]
    moved = (await _all(db, select(func.sum(StockMovement.qty)).where(StockMovement.kind == "shipment")))[0][0]
    assert moved == shipped_qty
    kinds = {k for (k,) in await _all(db, select(StockMovement.kind).distinct())}
    assert kinds == {"receipt", "reservation", "shipment", "release", "return"}
    # a few SKUs are short against last week's demand (for the stock-out forecast)
    week = NOW - timedelta(days=7)
    demand = dict(
        await _all(
            db,
            select(OrderLine.sku, func.sum(OrderLine.qty))
            .join(Order)
            .where(Order.created_at >= week)
            .group_by(OrderLine.sku),
        )
    )
    low = [s for s, lv in levels.items() if lv.on_hand - lv.reserved < 2 * demand.get(s, 0) / 7]
    assert "PB-20K-BLK" in low and len(low) < len(levels) // 2
    assert any(lv.in_transit for lv in levels.values())


async def test_every_order_obeys_the_state_machine_and_the_business_rules(seeded, config):
    db = seeded
    async with db.read() as s:
        orders = (await s.execute(select(Order))).scalars().all()
        lines = defaultdict(list)
        for order_id, sku in (await s.execute(select(OrderLine.order_id, OrderLine.sku))).all():
            lines[order_id].append(sku)
        grades = dict((await s.execute(select(Product.sku, Product.customs_grade))).all())
        channels = {c.code: c for c in (await s.execute(select(Channel))).scalars()}
    assert len(orders) == ORDERS
    assert len({o.order_no for o in orders}) == ORDERS
    assert {c: ch.frozen for c, ch in channels.items()} == {
        c: False for c in ("amazon", "shopify", "tiktok", "aliexpress", "temu", "ebay")
    }
    assert channels["amazon"].name == "亚马逊"
    statuses = defaultdict(int)
    tz = ZoneInfo(config.timezone)
    for o in orders:
        statuses[o.status] += 1
        assert re.fullmatch(r"SO\d{14}", o.order_no), o.order_no
        assert stage_allowed(o.status, o.stage), (o.order_no, o.status, o.stage)
        assert o.created_at.tzinfo is not None and o.created_at < NOW
        assert o.created_at >= NOW - timedelta(days=31)
        assert o.order_no[2:10] == o.created_at.astimezone(tz).strftime("%Y%m%d")
        assert o.promised_date == promised_date(o.created_at, o.origin, o.dest_country, config.eta, config.timezone)
        assert o.customs_grade == worst_grade(grades[s] for s in lines[o.id])
        assert 1 <= len(lines[o.id]) <= 3 and o.amount_cents > 0
        assert o.urgency in ("normal", "urgent", "critical") and o.origin in ("深圳", "义乌", "广州")
        assert o.updated_at >= o.created_at and o.stage_since >= o.created_at
        if o.status in SHIPPED:
            assert TRACKING.match(o.tracking_no) and o.carrier_code and o.shipped_at >= o.created_at
        else:
            assert o.tracking_no is None and o.shipped_at is None
        if o.status in ("delivered", "return_requested", "returned"):
            assert o.delivered_at > o.shipped_at
        if o.status == "cancelled":
            assert o.cancel_reason and o.cancelled_at >= o.created_at
        if o.status == "returned":
            assert o.return_received_at > o.return_requested_at > o.delivered_at
        if o.customs_hold:
            assert o.status == "shipped" and o.stage == "customs" and o.customs_hold_reason
    assert set(statuses) == set(STATUS_STAGES)
    assert statuses["delivered"] > ORDERS // 2
    assert 0.01 <= statuses["cancelled"] / ORDERS <= 0.06
    assert any(o.tax_exempt_no and o.invoice_status for o in orders)
    assert any(o.promised_override and o.override_by and o.override_reason for o in orders)
    # the ORM finds seeded rows by their own stored values: datetimes and dates are stored the ORM's way
    sample = next(o for o in orders if o.delivered_at)
    async with db.read() as s:
        found = (
            (
                await s.execute(
                    select(Order.id).where(
                        Order.created_at == sample.created_at,
                        Order.delivered_at == sample.delivered_at,
                        Order.promised_date == sample.promised_date,
                    )
                )
            )
            .scalars()
            .all()
        )
    assert found == [sample.id]


async def test_master_data_customers_and_regions(seeded, config):
    db = seeded
    customers = [c for (c,) in await _all(db, select(Customer))]
    assert {c.region for c in customers} == set(REGIONS)
    by_region = defaultdict(int)
    for c in customers:
        assert c.region and c.province in REGIONS[c.region]
        assert re.search("(贸易|电子商务|进出口|科技|供应链管理|商贸)有限公司$", c.name)
        by_region[c.region] += 1
    assert max(by_region, key=by_region.get) == "华东"
    assert any(c.wechat_openid for c in customers) and any(c.email for c in customers)
    assert {c.sales_owner for c in customers} == {s.id for s in config.staff if "sales" in s.roles}  # several
    ordered_regions = {
        r for (r,) in await _all(db, select(Customer.region).join(Order, Order.customer_id == Customer.id).distinct())
    }
    assert ordered_regions == set(REGIONS)
    staff = {s.id: s for (s,) in await _all(db, select(Staff))}
    assert set(staff) == {s.id for s in config.staff}
    pb = (await _all(db, select(Product).where(Product.sku == "PB-20K-BLK")))[0][0]
    assert (pb.hazmat_class, pb.packing_instruction, pb.customs_grade) == ("UN3480", "PI 965", "C")
    assert {p.hazmat_class for (p,) in await _all(db, select(Product))} >= {"UN3480", "UN3481", "UN3091", None}


async def test_delays_returns_repeat_orders_and_scans(seeded, config):
    db = seeded
    delays = [d for (d,) in await _all(db, select(Delay))]
    # every cause of the seed, recorded under the core's names of the causes as live delays are (TOP5 never splits
    # one cause in two); 缺货, which no carrier reports, keeps its word
    assert {d.reason for d in delays} == {DELAY_RECORDED[r] for r in DELAY_REASONS}
    assert {d.reason for d in delays} - {"缺货"} <= set(CAUSES.values())
    assert 0.03 <= len(delays) / ORDERS <= 0.15
    clauses = {(c.carrier_code, c.clause_no) for (c,) in await _all(db, select(CarrierClause))}
    assert ("COSCO", "8.2") in clauses
    for d in delays:
        assert d.delay_days > 0 and re.fullmatch(r"(深圳|义乌|广州)-\w+", d.lane) and d.cause
        if d.clause_no is not None:
            assert (d.carrier_code, d.clause_no) in clauses
        else:
            assert d.reason == "缺货"
    strikes = [d for d in delays if d.reason == CAUSES["port_congestion"]]
    assert any(d.lane == "深圳-洛杉矶" and d.cause == "深圳-洛杉矶线因美西港口罢工导致船期跳变" for d in strikes)
    # delivered late means delivered after the promised date, and delayed orders are the late ones
    orders = {o.id: o for (o,) in await _all(db, select(Order))}
    tz = ZoneInfo(config.timezone)
    late = {
        o.id
        for o in orders.values()
        if o.delivered_at and o.delivered_at.astimezone(tz).date() > (o.promised_override or o.promised_date)
    }
    delayed_delivered = {d.order_id for d in delays if orders[d.order_id].delivered_at}
    assert delayed_delivered and len(delayed_delivered - late) <= 0.1 * len(delayed_delivered)
    # a return asked for more than 48 h ago that never came back
    assert any(
        o.status == "return_requested"
        and o.return_received_at is None
        and o.return_requested_at < NOW - timedelta(hours=48)
        for o in orders.values()
    )
    # a customer ordering three times or more within 72 hours
    times = defaultdict(list)
    for o in orders.values():
        times[o.customer_id].append(o.created_at)
    assert any(sum(1 for u in ts if t <= u < t + timedelta(hours=72)) >= 3 for ts in times.values() for t in ts)
    # every shipped order's packages carry its tracking number and a warehouse scan
    warehouse = {s.id for s in config.staff if "warehouse" in s.roles}
    packages = defaultdict(list)
    for (p,) in await _all(db, select(Package)):
        packages[p.order_id].append(p)
    for o in orders.values():
        if o.status in SHIPPED:
            assert packages[o.id] and all(
                p.tracking_no == o.tracking_no
                and p.scanned_by in warehouse
                and p.scanned_at == o.shipped_at
                and p.station
                for p in packages[o.id]
            )
            assert [p.package_no for p in packages[o.id]] == list(range(1, len(packages[o.id]) + 1))
            assert all(re.fullmatch(r"B\d{6}-\d{2}", p.batch_no) for p in packages[o.id])
    kinds = {k for (k,) in await _all(db, select(OrderEvent.kind).distinct())}
    assert {"created", "stage", "status", "tracking", "customs", "delay"} <= kinds
    assert {s for (s,) in await _all(db, select(OrderEvent.source).distinct())} == {"seed"}
    details = {d for (d,) in await _all(db, select(OrderEvent.detail).where(OrderEvent.kind == "tracking"))}
    assert "已签收" in details and any(d.startswith("已揽收") for d in details)
    open_tasks = await _all(db, select(Task.type).where(Task.state == "open").distinct())
    assert {"customs_docs"} <= {t for (t,) in open_tasks}
    assert (await _all(db, select(func.count()).select_from(Communication)))[0][0] > 0
    # one good scan per scanned package, a few failures each followed by its correction
    from orderbot.core.models import Scan

    scanned = (await _all(db, select(func.count()).select_from(Package).where(Package.scanned_at.is_not(None))))[0][0]
    outcomes = dict(await _all(db, select(Scan.outcome, func.count()).group_by(Scan.outcome)))
    fixes = (await _all(db, select(func.count()).select_from(Scan).where(Scan.correction.is_(True))))[0][0]
    assert outcomes["ok"] == scanned and 0 < outcomes["wrong_batch"] == fixes < scanned / 10


async def test_order_card_by_order_number_channel_id_and_tracking_number(seeded, config):
    db = seeded
    rows = await _all(
        db,
        select(Order.order_no, Order.channel_order_id, Order.tracking_no)
        .where(Order.channel_code == "amazon", Order.status == "delivered")
        .limit(3),
    )
    assert rows
    for order_no, channel_order_id, tracking_no in rows:
        assert re.fullmatch(r"\d{3}-\d{7}-\d{7}", channel_order_id)
        async with db.read() as s:
            cards = [
                await order_card(s, ref, roles={"customer_service"}, rules=config.visibility)
                for ref in (order_no, channel_order_id, tracking_no, order_no.lower())
            ]
        assert {c["order_no"] for c in cards} == {order_no}
        card = cards[0]
        assert card["status"] == "delivered" and card["tracking_no"] == tracking_no
        assert card["timeline"] and card["trace"] and card["packages"]
        assert any(t["detail"] == "已签收" for t in card["trace"])
    shopify = (
        await _all(db, select(Order.order_no, Order.channel_order_id).where(Order.channel_code == "shopify").limit(1))
    )[0]
    assert re.fullmatch(r"#\d{4,}", shopify[1])
    async with db.read() as s:
        assert (await order_card(s, shopify[1], roles={"customer_service"}, rules=config.visibility))[
            "order_no"
        ] == shopify[0]


async def test_refuses_to_seed_a_database_that_already_has_orders(db, config):
    summary = await _seed(db, config, orders=120, days=5)
    before = await _fingerprint(db)
    with pytest.raises(SeedRefused, match="已有"):
        await _seed(db, config, orders=120, days=5, seed=99)
    assert await _fingerprint(db) == before
    assert summary.counts["orders"] == 120


async def test_run_seed_migrates_a_fresh_file_and_refuses_politely_the_second_time(tmp_path, config):
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    summary = await run_seed(url, orders=300, days=10, seed=3, config=config, progress=False, now=NOW)
    assert summary.refused is None and summary.orders == 300 and summary.counts["customers"] == 50
    again = await run_seed(url, orders=300, days=10, seed=3, config=config, progress=False, now=NOW)
    assert again.refused and again.describe().startswith("未写入演示数据") and again.orders == 0
    conn = sqlite3.connect(tmp_path / "fresh.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        indexes = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"ix_orders_tracking_no", "ix_order_events_order_at", "ix_stock_movements_order_sku"} <= indexes
    finally:
        conn.close()


async def test_zero_orders_still_writes_master_data(db, config):
    summary = await _seed(db, config, orders=0, days=3)
    assert summary.orders == 0 and summary.counts["customers"] == 50
    levels = await _all(db, select(StockLevel.on_hand, StockLevel.reserved))
    assert levels and all(r == 0 and h > 0 for h, r in levels)
