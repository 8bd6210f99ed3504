"""Alerts as people see and work them: what is open for a set of rules, a digest's batch for 全部知道了, the
customs group's buttons on a customs alert (claim, documents sent, release, documents complete), the
cancellation reasons behind a cancel-rate alert, and the cross-server lock around one rule's evaluation.

Every function works in the caller's unit of work; none commits. Permission (who may press what) is the chat's
business and is checked before these run.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.errors import DomainError
from orderbot.core.models import Alert, Order, Task
from orderbot.core.orders.customs import DOCS_TASK_TYPE
from orderbot.core.orders.service import add_event
from orderbot.core.rules import engine

OPEN_STATES = ("firing", "acknowledged", "pending")


async def open_alert_counts(session: AsyncSession, rules: Collection[str]) -> dict[str, int]:
    """How many alerts of these rules are firing, acknowledged or pending, by state."""
    rows = await session.execute(
        select(Alert.state, func.count())
        .where(Alert.rule.in_(rules), Alert.state.in_(OPEN_STATES))
        .group_by(Alert.state)
    )
    return {state: int(n) for state, n in rows.all()}


async def open_alerts(session: AsyncSession, rules: Collection[str], *, limit: int = 30) -> list[Alert]:
    """The newest open alerts of these rules (firing, acknowledged or pending), newest first."""
    found = await session.execute(
        select(Alert).where(Alert.rule.in_(rules), Alert.state.in_(OPEN_STATES)).order_by(Alert.id.desc()).limit(limit)
    )
    return list(found.scalars().all())


async def firing_announced_before(session: AsyncSession, rule: str | None, until: datetime) -> list[Alert]:
    """Firing alerts last announced before `until` (of `rule`, or of every rule when None), locked for the
    acknowledgement that follows: what a digest's 全部知道了 covers."""
    stmt = select(Alert).where(Alert.state == "firing", Alert.last_notified_at < until)
    if rule is not None:
        stmt = stmt.where(Alert.rule == rule)
    return list((await session.execute(stmt.with_for_update())).scalars())


async def alert_order(session: AsyncSession, alert: Alert) -> Order:
    """The order a customs alert is about (its subject), locked for the change that follows."""
    order = (
        await session.execute(select(Order).where(Order.order_no == alert.subject).with_for_update())
    ).scalar_one_or_none()
    if order is None:
        raise DomainError(f"订单 {alert.subject} 不存在。")
    return order


def _stuck_tasks(alert: Alert) -> Update:
    """The open 卡关 tasks of the alert's order (keys `customs_stuck:<order no>:…`)."""
    return update(Task).where(Task.key.like(f"customs_stuck:{alert.subject}:%"), Task.state == "open")


async def claim_customs(session: AsyncSession, alert: Alert, *, actor: str, actor_name: str, now: datetime) -> None:
    """认领: the open 卡关 tasks of the order become the claimer's, the alert is acknowledged, the order notes it."""
    await session.execute(_stuck_tasks(alert).values(assignee=actor))
    await engine.acknowledge(session, alert, actor=actor, now=now)
    order = await alert_order(session, alert)
    add_event(session, order, at=now, kind="customs", source="chat", actor=actor, detail=f"{actor_name} 认领卡关处理")


async def customs_docs_sent(session: AsyncSession, alert: Alert, *, actor: str, now: datetime) -> None:
    """资料已发: the supplementary documents went to customs; an order waiting for information is processing."""
    order = await alert_order(session, alert)
    add_event(session, order, at=now, kind="customs", source="chat", actor=actor, detail="补充资料已提交海关，等待放行")
    if order.customs_state == "info_required":
        order.customs_state, order.updated_at = "processing", now
    await engine.acknowledge(session, alert, actor=actor, now=now)


async def release_customs_alert(
    session: AsyncSession, alert: Alert, *, actor: str, actor_name: str, now: datetime
) -> None:
    """放行: the order is released (and its customs hold lifted), its 卡关 tasks are done, the alert resolves."""
    order = await alert_order(session, alert)
    order.customs_state, order.updated_at = "released", now
    if order.customs_hold:
        order.customs_hold, order.customs_hold_reason = False, None
    add_event(session, order, at=now, kind="customs", source="chat", actor=actor, detail=f"{actor_name} 确认放行")
    await session.execute(_stuck_tasks(alert).values(state="done", closed_at=now))
    await engine.resolve_now(session, alert, note=f"{actor_name} 确认放行", now=now)


async def customs_docs_done(session: AsyncSession, alert: Alert, *, actor: str, actor_name: str, now: datetime) -> bool:
    """资料已补齐: the order's documents task is done, the order notes it, the alert resolves. False when the
    task had been closed before."""
    closed = await session.execute(
        update(Task)
        .where(Task.key == f"{DOCS_TASK_TYPE}:{alert.subject}", Task.state == "open")
        .values(state="done", closed_at=now, assignee=actor)
    )
    order = await alert_order(session, alert)
    add_event(session, order, at=now, kind="customs", source="chat", actor=actor, detail="报关资料已补齐")
    await engine.resolve_now(session, alert, note=f"{actor_name} 标记资料已补齐", now=now)
    return bool(cast(CursorResult[Any], closed).rowcount)  # an UPDATE's result is a CursorResult


async def cancel_reasons(session: AsyncSession, channel: str, start: datetime, end: datetime) -> dict[str, int]:
    """Cancelled orders of a channel created in [start, end), counted by their cancellation reason."""
    rows = await session.execute(
        select(Order.cancel_reason, func.count())
        .where(
            Order.channel_code == channel,
            Order.created_at >= start,
            Order.created_at < end,
            Order.status == "cancelled",
            Order.cancel_reason.is_not(None),
        )
        .group_by(Order.cancel_reason)
    )
    return {str(reason): int(n) for reason, n in rows.all()}


async def lock_rule(session: AsyncSession, rule: str) -> None:
    """PostgreSQL only: one evaluator per rule at a time across servers (held until the transaction ends)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"orderbot.rule.{rule}"})
