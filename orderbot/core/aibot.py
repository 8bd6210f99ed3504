"""WeCom AI bot records: the conversations the bot may push to, its answers that can be rated, and what people
said of them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import AibotAnswer, AibotChat, AibotFeedback


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


async def record_answer(
    session: AsyncSession,
    *,
    feedback_id: str,
    user_id: str,
    chat_id: str | None,
    question: str,
    intent: str | None,
    answer: str,
    now: datetime,
) -> None:
    """An answer that carries `feedback_id`: a later rating with that id is about this question."""
    row = await session.get(AibotAnswer, feedback_id)
    if row is None:
        session.add(
            AibotAnswer(
                feedback_id=feedback_id,
                at=now,
                user_id=user_id,
                chat_id=chat_id,
                question=question,
                intent=intent,
                answer=answer,
            )
        )
    else:  # the same message answered again (a resumed inbox event): the latest answer counts
        row.at, row.question, row.intent, row.answer = now, question, intent, answer
