"""The morning digest of a salesperson's customers (我的客户): per active salesperson, their customers' orders in
progress, which of them are past the promised date or stuck in a stage, and yesterday's deliveries. An order's
owner is its own sales owner, else its customer's."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Customer, Order, Staff
from orderbot.core.orders.states import STAGE_NAMES, STAGE_NORMAL_HOURS
from orderbot.core.reports.common import day_bounds

OPEN = ("pending", "paid", "shipped")  # not yet delivered, cancelled or returned
DIGEST_ROLES = frozenset({"sales"})


@dataclass
class SalesDigest:
    staff_id: str
    name: str
    open: int = 0
    late: list[tuple[str, str, int]] = field(default_factory=list)  # (order_no, customer, days late)
    stuck: list[tuple[str, str, str, float, int]] = field(default_factory=list)  # (no, customer, stage, h, normal)
    delivered: list[tuple[str, bool]] = field(default_factory=list)  # (order_no, later than promised)

    @property
    def worth_sending(self) -> bool:
        return bool(self.late or self.stuck or self.delivered)


async def sales_digests(session: AsyncSession, *, now: datetime, timezone: str) -> list[SalesDigest]:
    """What each active salesperson would be told this morning (people with nothing to say included)."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    y_from, y_to = day_bounds(today - timedelta(days=1), today - timedelta(days=1), timezone)
    owner = func.coalesce(Order.sales_owner, Customer.sales_owner)
    people = [
        p
        for p in (await session.execute(select(Staff).where(Staff.active.is_(True)).order_by(Staff.id))).scalars()
        if DIGEST_ROLES & set(p.roles or ())
    ]
    if not people:
        return []
    base = (
        select(
            Order.order_no,
            Order.status,
            Order.stage,
            Order.stage_since,
            Order.promised_date,
            Order.promised_override,
            Order.delivered_at,
            Customer.name.label("customer"),
            owner.label("owner"),
        )
        .join(Customer, Customer.id == Order.customer_id)
        .where(owner.in_([p.id for p in people]))
    )
    open_rows = (await session.execute(base.where(Order.status.in_(OPEN)))).all()
    delivered_rows = (await session.execute(base.where(Order.delivered_at >= y_from, Order.delivered_at < y_to))).all()
    out = {p.id: SalesDigest(p.id, p.name) for p in people}
    for r in open_rows:
        d = out[r.owner]
        d.open += 1
        due: date | None = r.promised_override or r.promised_date
        if due is not None and due < today:
            d.late.append((r.order_no, r.customer, (today - due).days))
        normal = STAGE_NORMAL_HOURS.get(r.stage, 0)
        hours = (now - r.stage_since).total_seconds() / 3600
        if normal > 0 and hours > normal:
            d.stuck.append((r.order_no, r.customer, STAGE_NAMES.get(r.stage, r.stage), hours, normal))
    for r in delivered_rows:
        due = r.promised_override or r.promised_date
        was_late = due is not None and r.delivered_at.astimezone(zone).date() > due
        out[r.owner].delivered.append((r.order_no, was_late))
    return list(out.values())
