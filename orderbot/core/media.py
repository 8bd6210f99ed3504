"""Stored media (chart images) behind signed, expiring links; expired rows are purged by the scheduler."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Media
from orderbot.core.sqlutil import affected_rows


async def store(
    session: AsyncSession, content: bytes, mime: str, *, now: datetime, ttl: timedelta = timedelta(days=7)
) -> tuple[str, datetime]:
    media_id = secrets.token_urlsafe(16)
    expires = now + ttl
    session.add(Media(id=media_id, mime=mime, content=content, created_at=now, expires_at=expires))
    return media_id, expires


async def fetch(session: AsyncSession, media_id: str, now: datetime) -> tuple[bytes, str] | None:
    row = (
        await session.execute(select(Media.content, Media.mime, Media.expires_at).where(Media.id == media_id))
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return row.content, row.mime


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    return affected_rows(await session.execute(delete(Media).where(Media.expires_at <= now)))
