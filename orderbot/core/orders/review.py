"""Orders held for review because their channel was frozen: listing, releasing (one or a channel's all) and
cancelling them. Only owners of the cancel-rate rule (the rule that freezes channels; `[rules.cancel_rate]
owners`, staff ids or roles) and admins may decide; every decision is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.channels import channel_name
from orderbot.core.errors import DomainError, PermissionDenied
from orderbot.core.models import AuditEntry, Customer, Order
from orderbot.core.orders.service import add_event, change_status, get_order, release_review_hold

RULE = "cancel_rate"


@dataclass(frozen=True)
class HeldOrder:
    order_no: str
    channel: str | None
    customer: str
    amount_cents: int
    currency: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Released:
    order_no: str
    stage: str  # where the release moved it: inventory (stock reserved) or purchase (waiting for stock)


def review_owners(config: BusinessConfig) -> list[str]:
    from orderbot.core.rules.engine import rule_config

    return list(rule_config(config, RULE).owners)


def may_review(config: BusinessConfig, staff_id: str, roles: frozenset[str] | set[str]) -> bool:
    owners = set(review_owners(config))
    return staff_id in owners or bool(set(roles) & owners) or "admin" in roles


def _check(config: BusinessConfig, staff_id: str, roles: frozenset[str] | set[str]) -> None:
    if not may_review(config, staff_id, roles):
        raise PermissionDenied("只有取消率规则的负责人（" + "、".join(review_owners(config)) + "）可以处理待审核订单")


def _held_where(channel: str | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [Order.review_hold.is_(True), Order.status.in_(("pending", "paid"))]
    return where + [Order.channel_code == channel] if channel else where


def _held(channel: str | None) -> Select[Order]:
    return select(Order).where(*_held_where(channel))


async def count_held(session: AsyncSession, channel: str | None = None) -> int:
    return (await session.execute(select(func.count()).where(*_held_where(channel)))).scalar() or 0


async def held_orders(session: AsyncSession, channel: str | None = None, limit: int = 20) -> list[HeldOrder]:
    """Held orders, oldest first (the order they would be released in)."""
    rows = await session.execute(
        select(
            Order.order_no,
            Order.channel_code,
            Customer.name,
            Order.amount_cents,
            Order.currency,
            Order.status,
            Order.created_at,
        )
        .join(Customer, Customer.id == Order.customer_id)
        .where(*_held_where(channel))
        .order_by(Order.created_at, Order.id)
        .limit(limit)
    )
    return [HeldOrder(*r) for r in rows]


async def release_held(
    session: AsyncSession,
    config: BusinessConfig,
    *,
    order_no: str | None = None,
    channel: str | None = None,
    actor: str,
    roles: frozenset[str] | set[str],
    now: datetime,
    chat: str | None = None,
) -> list[Released]:
    """Release one held order, or every held order of a channel (oldest first). Each release reserves stock
    and moves the order on (to 库存池, or 采购计划 when stock is short), with an audit entry per order."""
    _check(config, actor, roles)
    if order_no:
        orders = [await get_order(session, order_no, for_update=True)]
        if not orders[0].review_hold:
            raise DomainError(f"订单 {orders[0].order_no} 不在待审核中")
    elif channel:
        orders = list(
            (await session.execute(_held(channel).order_by(Order.created_at, Order.id).with_for_update())).scalars()
        )
    else:
        raise DomainError("请说明放行哪个订单，或哪个渠道的待审核订单")
    out = []
    for order in orders:
        await release_review_hold(session, order, actor=actor, now=now)
        session.add(
            AuditEntry(
                at=now,
                actor=actor,
                action="order.release_review",
                subject=order.order_no,
                detail=f"渠道 {channel_name(order.channel_code or '')} 冻结期间的订单，审核放行",
                chat=chat,
            )
        )
        out.append(Released(order.order_no, order.stage))
    return out


async def cancel_held(
    session: AsyncSession,
    config: BusinessConfig,
    order_no: str,
    *,
    actor: str,
    roles: frozenset[str] | set[str],
    now: datetime,
    chat: str | None = None,
) -> str:
    """Cancel a held order instead of releasing it (audited); returns its order number."""
    _check(config, actor, roles)
    order = await get_order(session, order_no, for_update=True)
    if not order.review_hold:
        raise DomainError(f"订单 {order.order_no} 不在待审核中")
    order.review_hold = False
    await change_status(session, order, "cancelled", now=now, source="chat", actor=actor, reason="审核未通过")
    add_event(session, order, at=now, kind="review", source="chat", actor=actor, detail="审核未通过，订单取消")
    session.add(
        AuditEntry(
            at=now,
            actor=actor,
            action="order.cancel_review",
            subject=order.order_no,
            detail="冻结期间的订单，审核未通过并取消",
            chat=chat,
        )
    )
    return order.order_no
