"""The audit log (`audit_log`): who did what, to what, from which chat. Core use cases record their own entries;
`record` is for the chat's writes, which the dispatcher audits once each after the handler ran."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import AuditEntry


def record(
    session: AsyncSession,
    *,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    detail: str | None = None,
    chat: str | None = None,
) -> None:
    """Add one entry to the caller's unit of work."""
    session.add(AuditEntry(at=at, actor=actor, action=action, subject=subject, detail=detail, chat=chat))
