"""Order events from outside (webhooks, shops): dedupe, ingest and conflict handling in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.errors import IllegalTransition
from orderbot.core.inbox import claim_event
from orderbot.core.orders.schema import OrderIn
from orderbot.core.orders.service import IngestResult, NewProduct, add_event, get_order, ingest_order, open_task

UnitOfWork = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def accept_order_event(
    uow: UnitOfWork,
    *,
    source: str,
    dedupe_key: str,
    data: OrderIn,
    config: BusinessConfig,
    now: datetime,
    auto_products: Mapping[str, NewProduct] | None = None,
) -> IngestResult | None:
    """Process one inbound order event exactly once. Returns None for a repeat delivery.

    A status the order cannot take (a channel cancelling an order we already shipped) is not an error for the
    sender, who would only retry it: the order is left as it is, a timeline event and a task for a person
    record the conflict, and the event counts as processed.
    """
    for attempt in range(2):
        try:
            async with uow() as session:
                if not await claim_event(session, source, dedupe_key, now):
                    return None
                try:
                    async with session.begin_nested():
                        return await ingest_order(
                            session, data, source=source, config=config, now=now, auto_products=auto_products
                        )
                except IllegalTransition as exc:
                    order = await get_order(session, data.order_no)
                    add_event(
                        session,
                        order,
                        at=now,
                        kind="conflict",
                        source=source,
                        detail=f"渠道推送的状态无法执行：{exc.message}",
                    )
                    await open_task(
                        session,
                        key=f"channel_conflict:{order.order_no}:{data.status}",
                        type="channel_conflict",
                        subject=f"渠道状态冲突，需人工处理：{order.order_no}（{exc.message}）",
                        order_id=order.id,
                        now=now,
                    )
                    return IngestResult(order.order_no, "conflict", order.review_hold)
        except IntegrityError:
            # Two deliveries of a new order raced on the unique order number; the retry sees the winner.
            if attempt == 1:
                raise
    raise AssertionError("unreachable")
