"""Customer notices nobody can deliver become work for customer service, never a message marked sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Order
from orderbot.core.orders.service import open_task
from orderbot.core.warehouse.shipment import CustomerNotice

UNREACHABLE_TASK_TYPE = "notify_customer"
UNREACHABLE_TASK_SUBJECT = "无法通知客户"


async def customer_unreachable(session: AsyncSession, notice: CustomerNotice, *, now: datetime) -> bool:
    """Open (once per order) a task for customer service to tell the customer by other means; shown on the order
    card like the 报关资料待补 task. Returns False if the task was already open."""
    order_id = notice.order_id
    if order_id is None:  # a notice made without its order's id
        order_id = (await session.execute(select(Order.id).where(Order.order_no == notice.order_no))).scalar()
    subject = (
        f"{UNREACHABLE_TASK_SUBJECT}：订单 {notice.order_no} 已发出，客户 {notice.customer_id} 没有公众号 openid "
        f"也没有邮箱，请电话或其他方式告知（{notice.text}）"
    )
    return await open_task(
        session,
        key=f"{UNREACHABLE_TASK_TYPE}:{notice.order_no}",
        type=UNREACHABLE_TASK_TYPE,
        subject=subject,
        order_id=order_id,
        now=now,
        data={"customer_id": notice.customer_id, "order_no": notice.order_no},
    )
