"""Order lists people ask for in chat ("昨天哪些单子延误了", "清关卡住的单子"), a customer's orders, and the few
counts the confirmations quote. Read-only; every list is newest problem first and counted in full.

Filters (INTENTS.md `order.list`): delayed (due in the range and late), customs_stuck (manual hold, clearance
overdue or documents asked by customs), docs_missing (an open 报关资料待补 task), returns_pending (return asked,
not received), held_review (held by a channel freeze), waiting_stock (paid, still at the stock pool or purchase
plan), unscanned (paid with a package not scanned yet). Only `delayed` reads the date range: the others are
states of now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Customer, Delay, Order, Package, Task
from orderbot.core.orders.customs import DOCS_TASK_TYPE
from orderbot.core.reports.common import as_date, due_between, effective_due, is_delayed

FILTERS = ("delayed", "customs_stuck", "docs_missing", "returns_pending", "held_review", "waiting_stock", "unscanned")
FILTER_NAMES = {
    "delayed": "延误的订单",
    "customs_stuck": "清关卡住的订单",
    "docs_missing": "报关资料没齐的订单",
    "returns_pending": "退货未入库的订单",
    "held_review": "待审核的订单",
    "waiting_stock": "等库存的订单",
    "unscanned": "还没扫码出库的订单",
}
CLOSED = ("cancelled", "returned", "delivered")
EXPORT_CAP = 5000  # rows in the spreadsheet beside a long list


@dataclass(frozen=True)
class ListedOrder:
    order_no: str
    customer_id: str
    customer_name: str
    status: str
    stage: str
    since: datetime | date | None  # when the problem started (a date: the promised day, for delays)
    why: str
    private: dict[str, str] = field(default_factory=dict)  # field name → detail shown only to roles seeing it


def _problem(
    session: AsyncSession, name: str, *, today: date, date_from: date | None, date_to: date | None
) -> tuple[ColumnElement[bool], SQLColumnExpression[Any], tuple[SQLColumnExpression[Any], ...]]:
    """(condition, when the problem started, extra columns) of one filter."""
    if name == "delayed":
        cond = is_delayed(session, today)
        if date_from is not None and date_to is not None:
            cond = and_(due_between(date_from, date_to), cond)
        reason = (
            select(Delay.reason)
            .where(Delay.order_id == Order.id)
            .order_by(Delay.recorded_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        return cond, effective_due(), (reason, Order.eta_cause, Order.delivered_at)
    if name == "customs_stuck":
        cond = and_(
            or_(Order.customs_hold.is_(True), Order.customs_state.in_(("stuck", "info_required"))),
            Order.status.not_in(CLOSED),
        )
        return (
            cond,
            func.coalesce(Order.customs_in_at, Order.updated_at),
            (Order.customs_hold, Order.customs_state, Order.customs_hold_reason),
        )
    if name == "docs_missing":
        task = (
            select(func.min(Task.created_at))
            .where(Task.order_id == Order.id, Task.type == DOCS_TASK_TYPE, Task.state == "open")
            .scalar_subquery()
        )
        cond = exists().where(Task.order_id == Order.id, Task.type == DOCS_TASK_TYPE, Task.state == "open")
        return cond, task, ()
    if name == "returns_pending":
        return (
            and_(Order.status == "return_requested", Order.return_received_at.is_(None)),
            Order.return_requested_at,
            (),
        )
    if name == "held_review":
        return and_(Order.review_hold.is_(True), Order.status.not_in(CLOSED)), Order.created_at, ()
    if name == "waiting_stock":
        return and_(Order.status == "paid", Order.stage.in_(("inventory", "purchase"))), Order.stage_since, ()
    if name == "unscanned":
        unscanned = (
            select(func.count())
            .select_from(Package)
            .where(Package.order_id == Order.id, Package.scanned_at.is_(None))
            .scalar_subquery()
        )
        cond = and_(Order.status == "paid", exists().where(Package.order_id == Order.id, Package.scanned_at.is_(None)))
        return cond, Order.stage_since, (unscanned,)
    raise ValueError(f"unknown order list filter {name!r}")


def _why(name: str, extra: tuple[Any, ...], today: date) -> tuple[str, dict[str, str]]:
    if name == "delayed":
        reason, eta_cause, delivered = extra
        base = "晚于承诺日签收" if delivered is not None else "已过承诺日仍未签收"
        return (f"{base}（{reason or eta_cause}）" if reason or eta_cause else base), {}
    if name == "customs_stuck":
        hold, state, reason = extra
        if hold:
            return "卡关-人工介入", ({"customs_hold_reason": reason} if reason else {})
        return ("海关要求补充资料" if state == "info_required" else "清关超时"), {}
    if name == "docs_missing":
        return "报关资料待补", {}
    if name == "returns_pending":
        return "退货已申请，仓库还没收到", {}
    if name == "held_review":
        return "渠道冻结，订单待审核", {}
    if name == "waiting_stock":
        return "等库存或采购到货", {}
    (n,) = extra
    return f"{n} 个包裹未扫码", {}


async def order_list(
    session: AsyncSession,
    name: str,
    *,
    today: date,
    date_from: date | None = None,
    date_to: date | None = None,
    region: str | None = None,
    province: str | None = None,
    channel: str | None = None,
    customer: str | None = None,
    limit: int = 20,
) -> tuple[int, list[ListedOrder]]:
    """(how many orders match in all, the first `limit` of them, newest problem first)."""
    cond, since, extra = _problem(session, name, today=today, date_from=date_from, date_to=date_to)
    where = [cond]
    if region:
        where.append(Customer.region == region)
    if province:
        where.append(Customer.province == province)
    if channel:
        where.append(Order.channel_code == channel)
    if customer:
        where.append(or_(Customer.id == customer.upper(), Customer.name.contains(customer, autoescape=True)))
    joined = select(func.count()).select_from(Order).join(Customer, Customer.id == Order.customer_id)
    total = (await session.execute(joined.where(*where))).scalar() or 0
    stmt = (
        select(Order.order_no, Order.customer_id, Customer.name, Order.status, Order.stage, since, *extra)
        .join(Customer, Customer.id == Order.customer_id)
        .where(*where)
        .order_by(since.desc(), Order.id.desc())
        .limit(limit)
    )
    rows = []
    for row in await session.execute(stmt):
        order_no, customer_id, customer_name, status, stage, started, *more = row
        why, private = _why(name, tuple(more), today)
        if name == "delayed":
            started = as_date(started)
        rows.append(ListedOrder(order_no, customer_id, customer_name, status, stage, started, why, private))
    return int(total), rows


def held_for_review_query(channel: str) -> Select[int]:
    """The count of `held_for_review`: through the partial index `ix_orders_held_channel` (the index's WHERE is
    this query's `review_hold IS 1` / `IS true`, written the same way)."""
    return (
        select(func.count())
        .select_from(Order)
        .where(Order.channel_code == channel, Order.review_hold.is_(True), Order.status.not_in(CLOSED))
    )


async def held_for_review(session: AsyncSession, channel: str) -> int:
    """Orders of a channel held for review by its freeze (what an unfreeze leaves to release)."""
    return (await session.execute(held_for_review_query(channel))).scalar() or 0


async def find_customers(session: AsyncSession, text: str, limit: int = 6) -> list[Customer]:
    """Customers named by id (C00059) or by (part of) their name as stored; the id wins outright."""
    text = text.strip()
    by_id = await session.get(Customer, text.upper()) or await session.get(Customer, text)
    if by_id is not None:
        return [by_id]
    stmt = (
        select(Customer)
        .where(Customer.name.contains(text, autoescape=True))
        .order_by(func.length(Customer.name), Customer.id)
    )
    return list((await session.execute(stmt.limit(limit))).scalars())


@dataclass(frozen=True)
class CustomerOrder:
    order_no: str
    status: str
    stage: str
    channel: str | None
    created_at: datetime
    promised: date | None


OPEN = ("pending", "paid", "shipped", "return_requested")


async def customer_orders(
    session: AsyncSession, customer_id: str, *, since: datetime, until: datetime | None = None, limit: int = 20
) -> tuple[int, list[CustomerOrder]]:
    """A customer's open orders and those created since `since` (until `until`), newest first, and the count."""
    recent = Order.created_at >= since if until is None else and_(Order.created_at >= since, Order.created_at < until)
    cond = and_(Order.customer_id == customer_id, or_(Order.status.in_(OPEN), recent) if until is None else recent)
    total = (await session.execute(select(func.count()).select_from(Order).where(cond))).scalar() or 0
    stmt = (
        select(Order.order_no, Order.status, Order.stage, Order.channel_code, Order.created_at, effective_due())
        .where(cond)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .limit(limit)
    )
    return int(total), [
        CustomerOrder(no, st, sg, ch, at, as_date(due)) for no, st, sg, ch, at, due in await session.execute(stmt)
    ]
