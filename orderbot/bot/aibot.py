"""What the WeCom AI bot adds around the dispatcher, for its own events only.

- A quoted message is context: "@OrderBot 这单到哪了" quoting a message that names an order asks about that order
  (the order references found in the quote are added to the question when the question names none itself).
- enter_chat (first visit of the day to the bot's 1:1 chat) gets a short welcome listing what this person may ask.
- Every answer to a message carries a feedback id (WeCom rates only answers that do); the answer is recorded with
  its question and what the question was read as, and a later feedback_event is stored with that id, never
  answered.
- Every conversation someone talks to the bot in is remembered: the long connection may push there later.
Other events pass through unchanged.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.bot.dispatch import UNKNOWN_PERSON, allowed
from orderbot.bot.handlers import ROUTES
from orderbot.bot.intents.ids import find_order_refs
from orderbot.messaging.reply import Reply
from orderbot.messaging.text import reply_plain
from orderbot.core import aibot
from orderbot.messaging.inbound import ChatMessage, EnterAgent, Feedback, InboundEvent

PLATFORM = "wecom_aibot"
WELCOME_EXAMPLES = 4
ANSWER_KEPT = 500  # characters of an answer kept beside its feedback id


def with_quote(event: ChatMessage) -> ChatMessage:
    """The question with the quoted message's order references, when it names none of its own."""
    if not event.quote or find_order_refs(event.text.lower()):  # the patterns expect normalised (lower) text
        return event
    refs = [f.value for f in find_order_refs(event.quote.lower())]
    if not refs:
        return event
    return dataclasses.replace(event, text=f"{' '.join(dict.fromkeys(refs))} {event.text}".strip())


def welcome(name: str, roles: frozenset[str]) -> Reply:
    mine = [r for n, r in ROUTES.items() if not n.startswith("action.") and n != "help" and allowed(r, roles)]
    lines = [f"{name}，你好！我是 OrderBot，在群里 @我 或在这里直接问："]
    lines += [f"· {r.title}：{r.example}" for r in mine[:WELCOME_EXAMPLES]]
    lines.append("发「帮助」看全部。")
    return Reply(text="\n".join(lines))


class AibotEvents:
    """Wraps the pipeline's handler (the dispatcher, or a test's recorder)."""

    def __init__(self, inner):
        self.inner = inner
        if hasattr(inner, "prepare"):
            self.prepare = self._prepare

    def __getattr__(self, name):  # e.g. the app sets `dispatcher.parser` at start-up
        return getattr(self.inner, name)

    @staticmethod
    def _ours(event: InboundEvent) -> bool:
        return event.origin.platform == PLATFORM

    async def _prepare(self, event: InboundEvent):
        if self._ours(event):
            if isinstance(event, Feedback):
                return None
            if isinstance(event, ChatMessage):
                event = with_quote(event)
            if isinstance(event, EnterAgent) and hasattr(self.inner, "asker"):
                async with self.inner.db.read() as session:
                    asker = await self.inner.asker(session, event)
                return ("welcome", asker)
        return await self.inner.prepare(event)

    async def __call__(self, event: InboundEvent, session: AsyncSession, *prepared) -> Reply | None:
        if not self._ours(event):
            return await self.inner(event, session, *prepared)
        now = event.at
        o = event.origin
        if isinstance(event, Feedback):
            await aibot.record_feedback(
                session,
                feedback_id=event.feedback_id,
                user_id=o.user_id,
                chat_id=o.chat_id,
                rating=event.rating,
                comment=event.comment,
                reasons=list(event.reasons),
                now=now,
            )
            return None
        await aibot.remember_chat(
            session, o.chat_id or o.user_id, "group" if o.chat_id else "single", o.user_id, now=now
        )
        if isinstance(event, EnterAgent) and prepared and isinstance(prepared[0], tuple):
            asker = prepared[0][1]
            return welcome(asker.name, asker.roles) if asker is not None else None
        if isinstance(event, ChatMessage):
            event = with_quote(event)
        reply = await self.inner(event, session, *prepared)
        if reply is not None and reply.text == UNKNOWN_PERSON:  # tell the admin which id to add
            field = "wecom_open_userid" if o.user_id.startswith("wo") else "wecom_userid"
            reply = dataclasses.replace(
                reply, text=f"{reply.text}（你在智能机器人里的账号是 {o.user_id}，填在 {field}）"
            )
        feedback_id = dict(o.reply_route).get("feedback")
        if reply is not None and isinstance(event, ChatMessage) and feedback_id:
            await aibot.record_answer(
                session,
                feedback_id=feedback_id,
                user_id=o.user_id,
                chat_id=o.chat_id,
                question=event.text,
                intent=getattr(prepared[0], "intent", None) if prepared else None,
                answer=reply_plain(reply)[:ANSWER_KEPT],
                now=now,
            )
        return reply
