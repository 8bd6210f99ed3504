"""WeCom AI bot records: the conversations the bot may push to, and what people said of its answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import AibotChat, AibotFeedback


async def remember_chat(session: AsyncSession, chat_id: str, chat_type: str, user_id: str, *, now: datetime) -> None:
    """Someone talked to the bot in this conversation: from now on the bot may push there (long connection)."""
    row = await session.get(AibotChat, chat_id)
    if row is None:
        session.add(AibotChat(chat_id=chat_id, chat_type=chat_type, first_seen=now, last_seen=now, last_user=user_id))
        await session.flush()  # a second message of the same batch finds the row
    else:
        row.last_seen, row.last_user = now, user_id


async def record_feedback(
    session: AsyncSession,
    *,
    feedback_id: str,
    user_id: str,
    chat_id: str | None,
    rating: int,
    comment: str,
    reasons: list[int],
    now: datetime,
) -> None:
    session.add(
        AibotFeedback(
            at=now,
            feedback_id=feedback_id,
            user_id=user_id,
            chat_id=chat_id,
            rating=rating,
            comment=comment or None,
            reasons=list(reasons),
        )
    )
