"""Inventory by SKU with days of cover, and the stockout forecast: with N extra orders in the recent product mix,
which SKUs run out within H hours, and how much to buy."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.errors import UnknownSku
from orderbot.core.models import Order, OrderLine, Product, StockLevel, StockMovement

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


async def _shipped_per_day(session: AsyncSession, now: datetime, skus: list[str] | None = None,
                           days: int = WINDOW_DAYS) -> dict[str, float]:
    stmt = (select(StockMovement.sku, func.sum(StockMovement.qty))
            .where(StockMovement.kind == "shipment", StockMovement.at >= now - timedelta(days=days))
            .group_by(StockMovement.sku))
    if skus is not None:
        stmt = stmt.where(StockMovement.sku.in_(skus))
    return {sku: float(total) / days for sku, total in await session.execute(stmt)}


async def sku_stock(session: AsyncSession, sku: str, *, now: datetime) -> SkuStock:
    row = (await session.execute(
        select(StockLevel.sku, Product.name, StockLevel.on_hand, StockLevel.reserved, StockLevel.in_transit)
        .join(Product, Product.sku == StockLevel.sku).where(StockLevel.sku == sku))).first()
    if row is None:
        raise UnknownSku(sku)
    demand = (await _shipped_per_day(session, now, [sku])).get(sku, 0.0)
    available = row.on_hand - row.reserved
    return SkuStock(row.sku, row.name, row.on_hand, row.reserved, available, row.in_transit, round(demand, 1),
                    round(available / demand, 1) if demand else None)


@dataclass(frozen=True)
class Stockout:
    sku: str
    name: str
    available: int
    expected_demand: float
    hours_to_stockout: float
    buy: int


async def stockout_forecast(session: AsyncSession, *, now: datetime, extra_orders: int, hours: int,
                            limit: int = 3, mix_days: int = 7, safety: float = 0.2) -> list[Stockout]:
    """Demand over the horizon = the recent daily rate × hours/24, plus the extra orders spread over the recent
    product mix (units per order of each SKU over the last `mix_days`). A SKU whose available stock does not cover
    it runs out; the purchase suggestion covers the shortfall plus a safety margin."""
    since = now - timedelta(days=mix_days)
    orders = (await session.execute(select(func.count()).where(Order.created_at >= since))).scalar() or 0
    recent = select(Order.id).where(Order.created_at >= since)  # IN: orders by time first, then their lines
    units = dict((await session.execute(
        select(OrderLine.sku, func.sum(OrderLine.qty)).where(OrderLine.order_id.in_(recent))
        .group_by(OrderLine.sku))).all())
    rates = await _shipped_per_day(session, now, days=mix_days)  # the same recent window as the mix
    stock = (await session.execute(
        select(StockLevel.sku, Product.name, StockLevel.on_hand - StockLevel.reserved)
        .join(Product, Product.sku == StockLevel.sku))).all()
    out = []
    for sku, name, available in stock:
        per_order = float(units.get(sku, 0)) / orders if orders else 0.0
        base_rate = rates.get(sku, float(units.get(sku, 0)) / mix_days)  # units per day
        demand = base_rate * hours / 24 + per_order * extra_orders
        if demand <= 0 or available >= demand:
            continue
        # The extra orders land at once; the base demand spreads over the horizon.
        left = available - per_order * extra_orders
        hours_left = 0.0 if left <= 0 else (left / (base_rate / 24) if base_rate else float(hours))
        buy = math.ceil((demand - available) * (1 + safety))
        out.append(Stockout(sku, name, int(available), round(demand, 1), round(min(hours_left, hours), 1), buy))
    out.sort(key=lambda s: (s.hours_to_stockout, -(s.expected_demand - s.available)))
    return out[:limit]
