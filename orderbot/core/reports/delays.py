"""Delay reports: the customers with most delayed orders, and delay causes drilled down to lane, cause, affected
orders and the carrier contract clause — with the claim evidence pack legal needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, desc, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import CarrierClause, Carrier, Customer, Delay, Order, OrderEvent
from orderbot.core.reports.common import day_bounds, due_between, effective_due, is_delayed


@dataclass(frozen=True)
class DelayedCustomer:
    customer_id: str
    name: str
    province: str | None
    delayed: int
    due: int
    main_reason: str | None


async def top_delayed_customers(
    session: AsyncSession,
    *,
    date_from: date,
    date_to: date,
    today: date,
    region: str | None = None,
    province: str | None = None,
    limit: int = 5,
) -> list[DelayedCustomer]:
    """Customers ranked by orders due in the range that were late; region from the customer's province."""
    delayed = is_delayed(session, today)
    stmt = select(
        Order.customer_id, func.count().label("due"), func.sum(case((delayed, 1), else_=0)).label("delayed")
    ).where(due_between(date_from, date_to), Order.status != "cancelled")
    if province:
        stmt = stmt.join(Customer, Customer.id == Order.customer_id).where(Customer.province == province)
    elif region:
        stmt = stmt.join(Customer, Customer.id == Order.customer_id).where(Customer.region == region)
    stmt = stmt.group_by(Order.customer_id).having(func.sum(case((delayed, 1), else_=0)) > 0)
    stmt = stmt.order_by(desc("delayed"), Order.customer_id).limit(limit)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    ids = [r.customer_id for r in rows]
    names = {c.id: c for c in (await session.execute(select(Customer).where(Customer.id.in_(ids)))).scalars()}
    reasons = await _main_reasons(session, ids, date_from, date_to)
    return [
        DelayedCustomer(
            r.customer_id,
            names[r.customer_id].name,
            names[r.customer_id].province,
            int(r.delayed),
            int(r.due),
            reasons.get(r.customer_id),
        )
        for r in rows
    ]


async def _main_reasons(
    session: AsyncSession, customer_ids: list[str], date_from: date, date_to: date
) -> dict[str, str]:
    rows = await session.execute(
        select(Order.customer_id, Delay.reason, func.count().label("n"))
        .join(Delay, Delay.order_id == Order.id)
        .where(Order.customer_id.in_(customer_ids), due_between(date_from, date_to))
        .group_by(Order.customer_id, Delay.reason)
        .order_by(Order.customer_id, desc("n"), Delay.reason)
    )
    out: dict[str, str] = {}
    for customer_id, reason, _ in rows:
        out.setdefault(customer_id, reason)
    return out


@dataclass(frozen=True)
class DelayCause:
    category: str  # core.causes code
    reason: str
    lane: str
    cause: str
    orders: int
    carrier: str | None
    carrier_name: str | None
    clause_no: str | None
    clause_title: str | None
    avg_delay_days: float

    def sentence(self) -> str:
        """The seed's form: '深圳-洛杉矶线因美西港口罢工导致船期跳变，影响本周期137单，承运商合同第8.2条'."""
        text = self.cause if self.cause.startswith(self.lane) else f"{self.lane}线因{self.cause}"
        text += f"，影响本周期{self.orders}单"
        if self.clause_no:
            text += f"，{self.carrier_name or self.carrier or '承运商'}合同第{self.clause_no}条"
        return text


async def delay_reasons(session: AsyncSession, *, date_from: date, date_to: date, limit: int = 5) -> list[DelayCause]:
    """Top delay causes recorded in the range, each a (category, reason, lane, carrier, clause) group with its
    order count: one row per cause, so two lanes or carriers sharing a reason stay two rows."""
    start, end = day_bounds(date_from, date_to)
    groups = (
        await session.execute(
            select(
                Delay.category,
                Delay.reason,
                Delay.lane,
                Delay.carrier_code,
                Delay.clause_no,
                func.count(func.distinct(Delay.order_id)).label("orders"),
                func.avg(Delay.delay_days).label("days"),
                func.max(Delay.cause).label("cause"),
            )
            .where(Delay.recorded_at >= start, Delay.recorded_at < end)
            .group_by(Delay.category, Delay.reason, Delay.lane, Delay.carrier_code, Delay.clause_no)
            .order_by(desc("orders"), Delay.reason, Delay.lane, Delay.carrier_code)
            .limit(limit)
        )
    ).all()
    clauses = {(c.carrier_code, c.clause_no): c for c in (await session.execute(select(CarrierClause))).scalars()}
    carriers = dict((await session.execute(select(Carrier.code, Carrier.name))).all())
    out = []
    for g in groups:
        clause = clauses.get((g.carrier_code, g.clause_no))
        out.append(
            DelayCause(
                g.category,
                g.reason,
                g.lane,
                g.cause,
                int(g.orders),
                g.carrier_code,
                carriers.get(g.carrier_code),
                g.clause_no,
                clause.title if clause else None,
                round(float(g.days or 0), 1),
            )
        )
    return out


@dataclass(frozen=True)
class EvidenceRow:
    order_no: str
    customer: str
    lane: str
    reason: str
    cause: str
    promised: date | None
    delivered: str | None
    delay_days: int
    trace: str


async def claim_evidence(
    session: AsyncSession,
    *,
    reason: str,
    lane: str,
    date_from: date,
    date_to: date,
    carrier: str | None = None,
    max_rows: int = 5000,
) -> tuple[list[EvidenceRow], CarrierClause | None]:
    """Every affected order with its promised and actual dates and trace, plus the contract clause text."""
    start, end = day_bounds(date_from, date_to)
    rows = (
        await session.execute(
            select(
                Order.id,
                Order.order_no,
                Customer.name,
                Delay.lane,
                Delay.reason,
                Delay.cause,
                effective_due().label("due"),
                Order.delivered_at,
                Delay.delay_days,
                Delay.carrier_code,
                Delay.clause_no,
            )
            .join(Delay, Delay.order_id == Order.id)
            .join(Customer, Customer.id == Order.customer_id)
            .where(
                Delay.reason == reason,
                Delay.lane == lane,
                Delay.recorded_at >= start,
                Delay.recorded_at < end,
                *([Delay.carrier_code == carrier] if carrier else []),
            )
            .order_by(Order.order_no)
            .limit(max_rows)
        )
    ).all()
    if not rows:
        return [], None
    ids = [r.id for r in rows]
    traces: dict[int, list[str]] = {}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        events = await session.execute(
            select(OrderEvent.order_id, OrderEvent.at, OrderEvent.detail)
            .where(OrderEvent.order_id.in_(chunk), OrderEvent.kind.in_(("tracking", "customs")))
            .order_by(OrderEvent.order_id, OrderEvent.at)
        )
        for order_id, at, detail in events:
            traces.setdefault(order_id, []).append(f"{at:%m-%d %H:%M} {detail}")
    clause = (
        await session.execute(
            select(CarrierClause).where(
                and_(CarrierClause.carrier_code == rows[0].carrier_code, CarrierClause.clause_no == rows[0].clause_no)
            )
        )
    ).scalar_one_or_none()
    return [
        EvidenceRow(
            r.order_no,
            r.name,
            r.lane,
            r.reason,
            r.cause,
            r.due,
            r.delivered_at.isoformat() if r.delivered_at else None,
            int(r.delay_days or 0),
            "；".join(traces.get(r.id, [])),
        )
        for r in rows
    ], clause
