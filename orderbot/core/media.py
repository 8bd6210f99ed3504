"""Stored media (chart images): what outbox rows and signed, expiring links refer to; expired rows are purged by
the scheduler."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Media
from orderbot.core.sqlutil import affected_rows, dialect_name, run_core


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


def content_id(content: bytes) -> str:
    """The id of content stored by `store_once`: its SHA-256, as 32 hex digits (the column's length)."""
    return hashlib.sha256(content).hexdigest()[:32]


def _store_once_statement(dml: Any) -> Any:
    table = Media.__table__
    stmt = dml.insert(table)
    later = case((stmt.excluded.expires_at > table.c.expires_at, stmt.excluded.expires_at), else_=table.c.expires_at)
    return stmt.on_conflict_do_update(index_elements=["id"], set_={"expires_at": later})


_STORE_ONCE = {name: _store_once_statement(dml) for name, dml in (("sqlite", sqlite), ("postgresql", postgresql))}


async def store_once(
    session: AsyncSession, content: bytes, mime: str, *, now: datetime, ttl: timedelta = timedelta(days=7)
) -> tuple[str, datetime]:
    """Store `content` under its own hash (`content_id`), in this transaction: the same image stored again (one
    chart sent to ten people, a message sent twice) is one row, kept until the latest expiry asked for."""
    media_id, expires = content_id(content), now + ttl
    row = {"id": media_id, "mime": mime, "content": content, "created_at": now, "expires_at": expires}
    await run_core(session, _STORE_ONCE[dialect_name(session)], row)
    return media_id, expires
