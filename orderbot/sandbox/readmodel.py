"""The sandbox's read models: what the page shows beside the chat and what the demo company looks at before it
acts, read here so the routes and the company run no SQL (tests/unit/test_architecture.py). Only the demo reads
these; nothing here writes (the company changes things through the core use cases).

- `demo_picks`: the demo customer (one whose parcel waits at the packing station, so a scan ends in their
  WeChat) and a shipped order to look up;
- `packing_station`: packages a packer could scan now, the parcel counts of their orders, the SKUs, the last
  scans at the station;
- `cockpit_state`: alerts firing or acknowledged, paused courier batches, frozen channels;
- the demo company's reads (sandbox/company.py): its recent level and customers, the day's last order number,
  orders waiting for payment, open customs paperwork, packages to scan, parcels under way, deliveries that may
  come back and returns on their way to the warehouse.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Alert, Breaker, Channel, Customer, Order, OrderLine, Package, Product, StockLevel, Task
from orderbot.core.orders.customs import DOCS_TASK_TYPE

# What the page's packer could scan now: stock reserved or at the packing station. Not 质检工单 (qc): an order still
# in quality inspection is not offered for packing. (The demo company's own work list, `packages_to_scan`, also
# holds qc orders: its packers move them on to the packing table before their scan.)
READY_STAGES = ("inventory", "packing")
WAITING_AT_MOST = 200


def _waiting_query() -> Select[Any]:
    """Unscanned packages of paid orders ready to pack and not held (what a packer could scan now)."""
    return (
        select(
            Order.order_no,
            Order.customer_id,
            Customer.name.label("customer"),
            Package.package_no,
            Package.sku,
            Package.batch_no,
            Product.name.label("product"),
            Product.hazmat_class,
            Product.fragile,
            Order.stage,
        )
        .join(Package, Package.order_id == Order.id)
        .join(Customer, Customer.id == Order.customer_id)
        .join(Product, Product.sku == Package.sku)
        .where(
            Package.scanned_at.is_(None),
            Order.status == "paid",
            Order.stage.in_(READY_STAGES),
            Order.review_hold.is_(False),
            Order.customs_hold.is_(False),
        )
        .order_by(case((Order.stage == "packing", 0), else_=1), Order.stage_since, Order.id, Package.package_no)
    )


async def demo_picks(session: AsyncSession) -> tuple[Customer | None, str | None]:
    """The demo customer: one with a WeChat openid whose order waits at the packing station, fewest parcels
    left first (one left means a single scan ships it), else any with an openid; and the newest shipped order."""
    rows = (
        await session.execute(_waiting_query().where(Customer.wechat_openid.is_not(None)).limit(WAITING_AT_MOST))
    ).all()
    left: dict[str, int] = {}
    for r in rows:  # unscanned packages per order
        left[r.order_no] = left.get(r.order_no, 0) + 1
    best = min(rows, key=lambda r: left[r.order_no], default=None)  # min keeps the earliest of equals
    cid = (
        best.customer_id
        if best
        else (
            await session.execute(
                select(Customer.id).where(Customer.wechat_openid.is_not(None)).order_by(Customer.id).limit(1)
            )
        ).scalar()
    )
    customer = await session.get(Customer, cid) if cid else None
    sample_order = (
        await session.execute(
            select(Order.order_no).where(Order.status == "shipped").order_by(Order.id.desc()).limit(1)
        )
    ).scalar()
    return customer, sample_order


@dataclass(frozen=True)
class PackingStation:
    waiting: Sequence[Row[Any]]  # `_waiting_query` rows
    packages_per_order: dict[str, int]  # every parcel of the waiting orders, scanned or not
    skus: list[str]
    recent: Sequence[Row[Any]]  # the station's last scans: order_no, package_no, sku, batch_no, scanned_at/by


async def packing_station(session: AsyncSession, station: str, *, recent: int = 5) -> PackingStation:
    rows = (await session.execute(_waiting_query().limit(WAITING_AT_MOST))).all()
    totals = await session.execute(
        select(Order.order_no, func.count())
        .join(Package)
        .where(Order.order_no.in_({r.order_no for r in rows}))
        .group_by(Order.order_no)
    )
    skus = list((await session.execute(select(Product.sku).order_by(Product.sku))).scalars())
    last = (
        await session.execute(
            select(
                Order.order_no,
                Package.package_no,
                Package.sku,
                Package.batch_no,
                Package.scanned_at,
                Package.scanned_by,
            )
            .join(Package, Package.order_id == Order.id)
            .where(Package.station == station)
            .order_by(Package.scanned_at.desc())
            .limit(recent)
        )
    ).all()
    return PackingStation(rows, {no: int(n) for no, n in totals.all()}, skus, last)


@dataclass(frozen=True)
class CockpitState:
    alerts: list[Alert]  # the newest firing or acknowledged
    counts: dict[str, int]  # firing / acknowledged
    paused: list[tuple[str, str | None]]  # (breaker name "courier:<warehouse>", reason)
    frozen: list[str]  # channel codes


async def cockpit_state(session: AsyncSession, *, alerts: int = 8) -> CockpitState:
    shown = (
        await session.execute(
            select(Alert)
            .where(Alert.state.in_(("firing", "acknowledged")))
            .order_by(Alert.fired_at.desc(), Alert.id.desc())
            .limit(alerts)
        )
    ).scalars()
    counts = await session.execute(
        select(Alert.state, func.count()).where(Alert.state.in_(("firing", "acknowledged"))).group_by(Alert.state)
    )
    paused = await session.execute(
        select(Breaker.name, Breaker.reason).where(Breaker.state == "open", Breaker.name.like("courier:%"))
    )
    frozen = (await session.execute(select(Channel.code).where(Channel.frozen.is_(True)))).scalars()
    return CockpitState(
        list(shown),
        {state: int(n) for state, n in counts.all()},
        [(name, reason) for name, reason in paused.all()],
        list(frozen),
    )


# --- the demo company (sandbox/company.py) -------------------------------------------------------------------
async def orders_created(session: AsyncSession, start: datetime, end: datetime) -> int:
    """How many orders were created from `start` (inclusive) to `end` (exclusive)."""
    return (
        await session.execute(
            select(func.count()).select_from(Order).where(Order.created_at >= start, Order.created_at < end)
        )
    ).scalar_one()


async def customers_by_orders(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, str, str | None, int]]:
    """(id, name, province, orders created from `start` to `end`) of every customer who ordered then, by id."""
    rows = await session.execute(
        select(Customer.id, Customer.name, Customer.province, func.count(Order.id))
        .join(Order, Order.customer_id == Customer.id)
        .where(Order.created_at >= start, Order.created_at < end)
        .group_by(Customer.id, Customer.name, Customer.province)
        .order_by(Customer.id)
    )
    return [(cid, name, province, count) for cid, name, province, count in rows.all()]


async def last_order_no(session: AsyncSession, prefix: str) -> str | None:
    """The highest order number that starts with `prefix` (the day's last, for numbers like SO20260310000123)."""
    return (await session.execute(select(func.max(Order.order_no)).where(Order.order_no.like(f"{prefix}%")))).scalar()


async def unpaid_orders(session: AsyncSession, *, created_by: datetime, limit: int = 200) -> list[Order]:
    """Pending orders created at or before `created_by`, oldest first (by id): the ones a customer may pay now."""
    rows = await session.execute(
        select(Order).where(Order.status == "pending", Order.created_at <= created_by).order_by(Order.id).limit(limit)
    )
    return list(rows.scalars().all())


async def open_docs_tasks(session: AsyncSession, *, opened_by: datetime, limit: int = 300) -> Sequence[Row[Any]]:
    """Open 报关资料 tasks opened at or before `opened_by`, by id: rows of (key, created_at, order_id)."""
    return (
        await session.execute(
            select(Task.key, Task.created_at, Task.order_id)
            .where(Task.type == DOCS_TASK_TYPE, Task.state == "open", Task.created_at <= opened_by)
            .order_by(Task.id)
            .limit(limit)
        )
    ).all()


async def orders_by_no(session: AsyncSession, order_nos: Sequence[str]) -> list[Order]:
    """The orders with these numbers, by id, as the database has them now (loaded for the core's use cases; the
    scanner's statements may have changed an order loaded earlier in the same unit of work)."""
    out: list[Order] = []
    for i in range(0, len(order_nos), 500):
        stmt = (
            select(Order)
            .where(Order.order_no.in_(order_nos[i : i + 500]))
            .order_by(Order.id)
            .execution_options(populate_existing=True)
        )
        out += (await session.execute(stmt)).scalars().all()
    return out


async def open_tasks(
    session: AsyncSession, types: Collection[str], *, opened_by: datetime, limit: int = 1000
) -> Sequence[Row[Any]]:
    """Open tasks of these types opened at or before `opened_by`, by id: rows of (key, type, created_at)."""
    return (
        await session.execute(
            select(Task.key, Task.type, Task.created_at)
            .where(Task.type.in_(types), Task.state == "open", Task.created_at <= opened_by)
            .order_by(Task.id)
            .limit(limit)
        )
    ).all()


async def stock_position(session: AsyncSession, *, since: datetime) -> list[tuple[str, int, int, int]]:
    """Per SKU with a stock level: (sku, available = on hand - reserved, units ordered since `since` (not
    cancelled), units of paid orders waiting for stock at 采购计划)."""
    levels = (await session.execute(select(StockLevel.sku, StockLevel.on_hand - StockLevel.reserved))).all()
    ordered = dict(
        (
            await session.execute(
                select(OrderLine.sku, func.sum(OrderLine.qty))
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.created_at >= since, Order.status != "cancelled")
                .group_by(OrderLine.sku)
            )
        ).all()
    )
    waiting = dict(
        (
            await session.execute(
                select(OrderLine.sku, func.sum(OrderLine.qty))
                .join(Order, Order.id == OrderLine.order_id)
                .where(Order.status == "paid", Order.stage == "purchase")
                .group_by(OrderLine.sku)
            )
        ).all()
    )
    return [(sku, int(free or 0), int(ordered.get(sku) or 0), int(waiting.get(sku) or 0)) for sku, free in levels]


async def packages_to_scan(
    session: AsyncSession, *, paid_by: datetime, skip_customers: Collection[str], limit: int
) -> Sequence[Row[Any]]:
    """The demo company's warehouse work list: unscanned packages of paid orders in inventory, quality control or
    packing (a qc order is moved on to packing before its scan), paid at or before `paid_by`, not held, of
    customers not in `skip_customers`; longest paid first: rows of (order_no, sku, batch_no, package_no,
    created_at, urgency, stage, stage_since)."""
    return (
        await session.execute(
            select(
                Order.order_no,
                Package.sku,
                Package.batch_no,
                Package.package_no,
                Order.created_at,
                Order.urgency,
                Order.stage,
                Order.stage_since,
            )
            .join(Package, Package.order_id == Order.id)
            .where(
                Order.status == "paid",
                Order.stage.in_(("inventory", "qc", "packing")),
                Package.scanned_at.is_(None),
                Order.paid_at <= paid_by,
                Order.review_hold.is_(False),
                Order.customs_hold.is_(False),
                Order.customer_id.not_in(skip_customers or {""}),
            )
            .order_by(Order.paid_at, Package.package_no)
            .limit(limit)
        )
    ).all()


async def parcels_under_way(session: AsyncSession) -> Sequence[Row[Any]]:
    """Every shipped order with a waybill, by id: rows of (order_no, tracking_no, origin, dest_country,
    shipped_at, tracking_status, tracking_at, stage, stage_since, promised day (the override if any))."""
    return (
        await session.execute(
            select(
                Order.order_no,
                Order.tracking_no,
                Order.origin,
                Order.dest_country,
                Order.shipped_at,
                Order.tracking_status,
                Order.tracking_at,
                Order.stage,
                Order.stage_since,
                func.coalesce(Order.promised_override, Order.promised_date),
            )
            .where(Order.tracking_no.is_not(None), Order.status == "shipped", Order.shipped_at.is_not(None))
            .order_by(Order.id)
        )
    ).all()


async def delivered_between(session: AsyncSession, start: datetime, end: datetime) -> Sequence[Row[Any]]:
    """Orders delivered from `start` to `end` and not yet asked back, by id: rows of (order_no, delivered_at)."""
    return (
        await session.execute(
            select(Order.order_no, Order.delivered_at)
            .where(Order.status == "delivered", Order.delivered_at >= start, Order.delivered_at < end)
            .order_by(Order.id)
        )
    ).all()


async def returns_asked_before(session: AsyncSession, before: datetime, *, limit: int = 100) -> Sequence[Row[Any]]:
    """Orders whose return was asked for before `before` and not yet received, by id: rows of (order_no,
    return_requested_at)."""
    return (
        await session.execute(
            select(Order.order_no, Order.return_requested_at)
            .where(Order.status == "return_requested", Order.return_requested_at < before)
            .order_by(Order.id)
            .limit(limit)
        )
    ).all()
