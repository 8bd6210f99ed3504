"""Inventory by SKU with days of cover, and the stockout forecast: with N extra orders in the recent product mix,
which SKUs run out within H hours (counting stock in transit and receipts due by their arrival), and how much
to buy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.errors import UnknownSku
from orderbot.core.models import Order, OrderLine, Product, StockLevel, StockMovement, StockReceipt

WINDOW_DAYS = 14


@dataclass(frozen=True)
class SkuStock:
    sku: str
    name: str
    on_hand: int
    reserved: int
    available: int
    in_transit: int
    daily_demand: float
    days_of_cover: float | None  # None when nothing has shipped recently


async def _shipped_per_day(
    session: AsyncSession, now: datetime, skus: list[str] | None = None, days: int = WINDOW_DAYS
) -> dict[str, float]:
    stmt = (
        select(StockMovement.sku, func.sum(StockMovement.qty))
        .where(StockMovement.kind == "shipment", StockMovement.at >= now - timedelta(days=days))
        .group_by(StockMovement.sku)
    )
    if skus is not None:
        stmt = stmt.where(StockMovement.sku.in_(skus))
    return {sku: float(total) / days for sku, total in await session.execute(stmt)}


async def sku_stock(session: AsyncSession, sku: str, *, now: datetime) -> SkuStock:
    row = (
        await session.execute(
            select(StockLevel.sku, Product.name, StockLevel.on_hand, StockLevel.reserved, StockLevel.in_transit)
            .join(Product, Product.sku == StockLevel.sku)
            .where(StockLevel.sku == sku)
        )
    ).first()
    if row is None:
        raise UnknownSku(sku)
    demand = (await _shipped_per_day(session, now, [sku])).get(sku, 0.0)
    available = row.on_hand - row.reserved
    return SkuStock(
        row.sku,
        row.name,
        row.on_hand,
        row.reserved,
        available,
        row.in_transit,
        round(demand, 1),
        round(available / demand, 1) if demand else None,
    )


@dataclass(frozen=True)
class Stockout:
    sku: str
    name: str
    available: int
    expected_demand: float  # units over the horizon: backlog + the recent rate + the extra orders
    incoming: int  # units arriving within the horizon (due receipts, untimed stock in transit)
    hours_to_stockout: float  # 0 = already out (the backlog alone exceeds what is available)
    buy: int


DEFAULT_LEAD_DAYS = 7  # when a product has no supplier lead time, untimed stock in transit lands after a week


def _run_out(
    available: float, rate: float, surge: tuple[float, float], arrivals: list[tuple[float, int]], hours: float
) -> float | None:
    """Walk the horizon piecewise: stock falls by `rate` units/h (plus the surge's rate until its end) and jumps
    up at each arrival. The first moment it reaches zero with demand still running is the run-out time."""
    surge_rate, surge_end = surge
    points = sorted({0.0, hours, *(t for t, _ in arrivals if t < hours), *([surge_end] if surge_end < hours else [])})
    stock = available
    pending = sorted(arrivals)
    for a, b in zip(points, points[1:]):
        while pending and pending[0][0] <= a:
            stock += pending.pop(0)[1]
        d = rate + (surge_rate if a < surge_end else 0.0)
        if stock < 0 or (stock == 0 and d > 0):  # the backlog alone is more than there is
            return a
        if d <= 0:
            continue
        if stock - d * (b - a) <= 0:
            return a + stock / d
        stock -= d * (b - a)
    return None


async def _backlog(session: AsyncSession) -> dict[str, int]:
    """Units that orders waiting at 采购计划 still lack, per SKU: they take the next stock that arrives."""
    waiting = select(Order.id).where(Order.status == "paid", Order.stage == "purchase", Order.review_hold.is_(False))
    need: dict[str, int] = {}
    for sku, qty in await session.execute(
        select(OrderLine.sku, func.sum(OrderLine.qty)).where(OrderLine.order_id.in_(waiting)).group_by(OrderLine.sku)
    ):
        need[sku] = int(qty)
    held = await session.execute(
        select(StockMovement.sku, func.sum(StockMovement.d_reserved))
        .where(StockMovement.order_no.in_(select(Order.order_no).where(Order.id.in_(waiting))))
        .group_by(StockMovement.sku)
    )
    for sku, qty in held:
        need[sku] = need.get(sku, 0) - int(qty or 0)
    return {sku: n for sku, n in need.items() if n > 0}


async def stockout_forecast(
    session: AsyncSession,
    *,
    now: datetime,
    extra_orders: int,
    hours: int,
    limit: int = 3,
    mix_days: int = 7,
    safety: float = 0.2,
    surge_hours: float = 24,
) -> list[Stockout]:
    """Which SKUs run out within `hours` if `extra_orders` more orders arrive (spread over the first
    `surge_hours`, in the recent product mix), and how much to buy.

    Demand: orders waiting at 采购计划 first, then the recent daily shipping rate, then the extra orders at the
    units per order of the last `mix_days` (from the ledger's reservations, not a join over order lines). Supply:
    available stock now, plus each due receipt at its expected arrival, plus stock in transit without a date at
    the product's supplier lead time. The purchase suggestion covers the shortfall over the horizon plus a safety
    margin, and at least brings stock back to the product's reorder point."""
    since = now - timedelta(days=mix_days)
    end = now + timedelta(hours=hours)
    orders = (await session.execute(select(func.count()).where(Order.created_at >= since))).scalar() or 0
    units = {
        sku: int(q)
        for sku, q in await session.execute(
            select(StockMovement.sku, func.sum(StockMovement.qty))
            .where(StockMovement.kind == "reservation", StockMovement.at >= since)
            .group_by(StockMovement.sku)
        )
    }
    rates = await _shipped_per_day(session, now, days=mix_days)
    backlog = await _backlog(session)
    due: dict[str, list[tuple[datetime, int]]] = {}
    due_total: dict[str, int] = {}
    for sku, qty, at in await session.execute(
        select(StockReceipt.sku, StockReceipt.qty, StockReceipt.expected_at).where(StockReceipt.state == "due")
    ):
        due_total[sku] = due_total.get(sku, 0) + int(qty)
        if at is not None:
            due.setdefault(sku, []).append((at, int(qty)))
    stock = (
        await session.execute(
            select(
                StockLevel.sku,
                Product.name,
                StockLevel.on_hand - StockLevel.reserved,
                StockLevel.in_transit,
                Product.lead_time_days,
                Product.reorder_point,
            ).join(Product, Product.sku == StockLevel.sku)
        )
    ).all()
    surge_end = float(min(surge_hours, hours))
    out = []
    for sku, name, available, in_transit, lead_days, reorder_point in stock:
        per_order = units.get(sku, 0) / orders if orders else 0.0
        rate = rates.get(sku, units.get(sku, 0) / mix_days) / 24  # units per hour
        extra = per_order * extra_orders
        waiting = backlog.get(sku, 0)
        demand = waiting + rate * hours + extra
        if demand <= 0:
            continue
        arrivals = [(max((at - now).total_seconds() / 3600, 0.0), q) for at, q in due.get(sku, []) if at <= end]
        untimed = int(in_transit or 0) - due_total.get(sku, 0)
        lead = (lead_days if lead_days is not None else DEFAULT_LEAD_DAYS) * 24.0
        if untimed > 0 and lead <= hours:
            arrivals.append((lead, untimed))
        incoming = sum(q for _, q in arrivals)
        hours_left = _run_out(
            available - waiting, rate, (extra / surge_end if surge_end else 0.0, surge_end), arrivals, float(hours)
        )
        if hours_left is None:
            continue
        shortfall = demand - available - incoming
        buy = math.ceil(max(shortfall, 0) * (1 + safety))
        if reorder_point:
            buy = max(buy, math.ceil(max(shortfall, 0)) + reorder_point)
        out.append(Stockout(sku, name, int(available), round(demand, 1), incoming, round(hours_left, 1), max(buy, 1)))
    out.sort(key=lambda s: (s.hours_to_stockout, -(s.expected_demand - s.available - s.incoming)))
    return out[:limit]
