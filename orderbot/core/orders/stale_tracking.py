"""Shipped orders whose tracking went quiet: a task (轨迹停更) per order whose last tracking update, or its shipping
time when none came, is older than the configured hours. The task key `tracking_stale:<order_no>` opens it once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import String, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Order, Task
from orderbot.core.orders.service import open_task


async def open_stale_tracking_tasks(session: AsyncSession, *, hours: float, now: datetime) -> int:
    """Open the missing tasks; returns how many were opened."""
    last = func.coalesce(Order.tracking_at, Order.shipped_at)
    rows = (
        await session.execute(
            select(
                Order.id,
                Order.order_no,
                Order.carrier_code,
                Order.tracking_no,
                Order.tracking_status,
                last.label("last"),
            )
            .where(
                Order.status == "shipped",
                last < now - timedelta(hours=hours),
                # the task opens once per order: skip the ones it has already opened for
                ~exists().where(Task.key == literal("tracking_stale:", String) + Order.order_no),
            )
            .order_by(Order.id)
        )
    ).all()
    opened = 0
    for r in rows:
        where = " ".join(x for x in (r.carrier_code, r.tracking_no) if x) or "无运单号"
        subject = f"物流轨迹超过{hours:g}小时未更新：{r.order_no}（{where}，最后状态 {r.tracking_status or '无'}）"
        opened += await open_task(
            session,
            key=f"tracking_stale:{r.order_no}",
            type="tracking_stale",
            subject=subject,
            order_id=r.id,
            now=now,
            data={"last_update": r.last.isoformat(), "tracking_status": r.tracking_status},
        )
    return opened
