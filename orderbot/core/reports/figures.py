"""One figure over a range of local days, for "昨天一共发了多少单" / "TikTok这个月取消率多少": the value and the
same figure for the period of equal length just before, filtered by channel and customer region."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Customer, Order, Package
from orderbot.core.reports.common import day_bounds, due_between, is_delayed

FIGURES = ("orders", "shipped", "delayed", "cancel_rate", "returns", "scans")
FIGURE_NAMES = {
    "orders": "订单数",
    "shipped": "发货数",
    "delayed": "延迟单",
    "cancel_rate": "取消率",
    "returns": "退货数",
    "scans": "扫码出库包裹",
}


@dataclass(frozen=True)
class Figure:
    metric: str
    value: float
    previous: float
    date_from: date
    date_to: date
    previous_from: date
    previous_to: date


async def _value(
    session: AsyncSession,
    metric: str,
    d_from: date,
    d_to: date,
    *,
    today: date,
    channel: str | None,
    region: str | None,
) -> float:
    start, end = day_bounds(d_from, d_to)
    stmt: Select[*tuple[Any, ...]]  # one count, or (count, cancelled) for cancel_rate
    if metric == "scans":
        stmt = (
            select(func.count())
            .select_from(Package)
            .join(Order, Order.id == Package.order_id)
            .where(Package.scanned_at >= start, Package.scanned_at < end)
        )
    elif metric == "cancel_rate":
        stmt = (
            select(func.count(), func.sum(case((Order.status == "cancelled", 1), else_=0)))
            .select_from(Order)
            .where(Order.created_at >= start, Order.created_at < end)
        )
    elif metric == "delayed":
        stmt = select(func.count()).select_from(Order).where(due_between(d_from, d_to), is_delayed(session, today))
    else:
        column = {"orders": Order.created_at, "shipped": Order.shipped_at, "returns": Order.return_requested_at}[metric]
        stmt = select(func.count()).select_from(Order).where(column >= start, column < end)
    if channel:
        stmt = stmt.where(Order.channel_code == channel)
    if region:
        stmt = stmt.join(Customer, Customer.id == Order.customer_id).where(Customer.region == region)
    row = (await session.execute(stmt)).one()
    if metric == "cancel_rate":
        created, cancelled = int(row[0] or 0), int(row[1] or 0)
        return cancelled / created if created else 0.0
    return float(row[0] or 0)


async def figure(
    session: AsyncSession,
    metric: str,
    *,
    date_from: date,
    date_to: date,
    today: date,
    channel: str | None = None,
    region: str | None = None,
) -> Figure:
    if metric not in FIGURES:
        raise ValueError(f"unknown metric {metric!r}")
    span = (date_to - date_from).days + 1
    p_from, p_to = date_from - timedelta(days=span), date_from - timedelta(days=1)
    now = await _value(session, metric, date_from, date_to, today=today, channel=channel, region=region)
    before = await _value(session, metric, p_from, p_to, today=today, channel=channel, region=region)
    return Figure(metric, now, before, date_from, date_to, p_from, p_to)
