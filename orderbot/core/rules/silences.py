"""Silences: an alert rule muted from chat for a while (alert.mute / alert.unmute); they expire by themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.errors import DomainError
from orderbot.core.models import AuditEntry, Silence
from orderbot.core.sqlutil import affected_rows

RULES = {
    "cancel_rate": "取消率",
    "returns_not_received": "退货未入库",
    "repeat_orders": "重复下单",
    "customs_stuck": "卡关",
    "weather": "天气熔断",
    "customs_docs": "报关资料待补",
    "eta_risk": "交付风险",
}
MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class ActiveSilence:
    rule: str
    ends_at: datetime
    created_by: str


async def mute(
    session: AsyncSession, rule: str, minutes: int, *, actor: str, now: datetime, chat: str | None = None
) -> datetime:
    if rule not in RULES:
        raise DomainError(f"没有叫 {rule} 的告警规则；可用：{'、'.join(f'{v}({k})' for k, v in RULES.items())}")
    if not 1 <= minutes <= MAX_MINUTES:
        raise DomainError("静默时长应在1分钟到7天之间")
    ends = now + timedelta(minutes=minutes)
    await session.execute(
        update(Silence)
        .where(Silence.rule == rule, Silence.ends_at > now)
        .values(ends_at=now, ended_by=f"{actor}（被新的静默替换）")
    )
    session.add(Silence(rule=rule, starts_at=now, ends_at=ends, created_by=actor))
    session.add(AuditEntry(at=now, actor=actor, action="alert.mute", subject=rule, detail=f"{minutes} 分钟", chat=chat))
    return ends


async def unmute(session: AsyncSession, rule: str, *, actor: str, now: datetime, chat: str | None = None) -> bool:
    result = await session.execute(
        update(Silence).where(Silence.rule == rule, Silence.ends_at > now).values(ends_at=now, ended_by=actor)
    )
    ended = affected_rows(result)
    if ended:
        session.add(AuditEntry(at=now, actor=actor, action="alert.unmute", subject=rule, chat=chat))
    return bool(ended)


async def active(session: AsyncSession, now: datetime) -> list[ActiveSilence]:
    rows = await session.execute(
        select(Silence.rule, Silence.ends_at, Silence.created_by)
        .where(Silence.starts_at <= now, Silence.ends_at > now)
        .order_by(Silence.rule)
    )
    return [ActiveSilence(*r) for r in rows]


async def is_muted(session: AsyncSession, rule: str, now: datetime) -> bool:
    return any(s.rule == rule for s in await active(session, now))
