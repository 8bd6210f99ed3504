"""The staff directory lives in the business config; the database keeps a copy for joins and audits."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import BusinessConfig
from orderbot.core.models import Staff


async def sync_staff(session: AsyncSession, config: BusinessConfig) -> int:
    """Upsert every configured person; people no longer listed are deactivated, never deleted."""
    configured = config.staff_by_id()
    if not configured:  # an empty directory is a missing or broken config, not "everyone has left"
        return 0
    existing = {s.id: s for s in (await session.execute(select(Staff))).scalars()}
    for sid, entry in configured.items():
        row = existing.get(sid) or Staff(id=sid)
        row.name, row.roles, row.email = entry.name, list(entry.roles), entry.email
        row.wecom_userid, row.dingtalk_userid, row.active = entry.wecom_userid, entry.dingtalk_userid, True
        row.wecom_open_userid = entry.wecom_open_userid
        if sid not in existing:
            session.add(row)
    for sid, row in existing.items():
        if sid not in configured:
            row.active = False
    return len(configured)
