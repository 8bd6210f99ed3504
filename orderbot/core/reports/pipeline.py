"""The pipeline right now: open orders at each of the 11 stages, how many are stuck past the stage's normal
time, and the worst ones named ("管理层打开手机就能看到此刻有多少单卡在哪个环节")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Order
from orderbot.core.orders.states import STAGE_CODES, STAGE_NAMES, STAGE_NORMAL_HOURS

OPEN = ("pending", "paid", "shipped")


@dataclass(frozen=True)
class StageCount:
    stage: str
    name: str
    orders: int
    stuck: int
    normal_hours: int
    worst: tuple[tuple[str, float], ...]  # (order_no, hours at the stage)


async def pipeline(
    session: AsyncSession, *, now: datetime, channel: str | None = None, worst: int = 3
) -> list[StageCount]:
    stuck_when = or_(
        *(
            (Order.stage == code) & (Order.stage_since < now - timedelta(hours=hours))
            for code, hours in STAGE_NORMAL_HOURS.items()
            if hours > 0
        )
    )
    stmt = (
        select(Order.stage, func.count(), func.sum(case((stuck_when, 1), else_=0)))
        .where(Order.status.in_(OPEN))
        .group_by(Order.stage)
    )  # covered by (status, stage, stage_since)
    if channel:
        stmt = stmt.where(Order.channel_code == channel)
    counts = {stage: (int(n), int(stuck or 0)) for stage, n, stuck in await session.execute(stmt)}
    out = []
    for code in STAGE_CODES:
        if code == "delivered":
            continue
        n, stuck = counts.get(code, (0, 0))
        names: tuple[tuple[str, float], ...] = ()
        if stuck:
            q = (
                select(Order.order_no, Order.stage_since)
                .where(
                    Order.status.in_(OPEN),
                    Order.stage == code,
                    Order.stage_since < now - timedelta(hours=STAGE_NORMAL_HOURS[code]),
                )
                .order_by(Order.stage_since)
                .limit(worst)
            )
            if channel:
                q = q.where(Order.channel_code == channel)
            names = tuple(
                (no, round((now - since).total_seconds() / 3600, 1)) for no, since in await session.execute(q)
            )
        out.append(StageCount(code, STAGE_NAMES[code], n, stuck, STAGE_NORMAL_HOURS[code], names))
    return out
