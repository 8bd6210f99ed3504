"""From an inbound event to a reply in the outbox, exactly once.

In one unit of work: claim the event's dedupe key, run the handler (which may change the business through
core use cases on the same session), and queue its reply. A repeat delivery finds the key taken and does
nothing. A reply that may also go back synchronously (WeCom `scancode_waitmsg` passive reply) is queued with a
short hold; if the webhook answers in time it marks the row sent, otherwise the worker sends it after the hold.

Group commit: events that arrive while a transaction is committing are processed together in the next one,
so a burst costs one commit instead of one per event, and an event is acknowledged only after the commit that
records it. If anything in a batch fails, the batch is rolled back and its events are processed one by one, so
only the failing one fails. At low load a batch is a single event and nothing waits.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..core import outbox
from ..core.models import OutboxMessage
from ..core.sqlutil import claim_event
from ..db import Database
from .inbound import ChatMessage, InboundEvent, ScanEvent
from .reply import Reply

log = logging.getLogger("orderbot.pipeline")
PASSIVE_HOLD = timedelta(seconds=15)
MAX_BATCH = 64


class Handler(Protocol):
    """`handler(event, session)` inside the unit of work. A handler may also offer `prepare(event)`, run before
    the transaction (reading, rendering charts), whose result is passed as a third argument."""

    async def __call__(self, event: InboundEvent, session: AsyncSession) -> Reply | None: ...


SpeechToText = Callable[[ChatMessage], Awaitable[str | None]]

VOICE_HELP = "暂时听不懂企业微信的语音消息：请长按语音选择「转文字」后发送文字，或直接打字告诉我。"


@dataclass(frozen=True)
class Processed:
    reply: Reply | None
    outbox_id: int | None


class InboundPipeline:
    def __init__(self, db: Database, handler: Handler, clock: Callable[[], datetime], *,
                 speech_to_text: SpeechToText | None = None, on_commit: Callable[[], None] | None = None):
        """`on_commit` runs after each committed batch (the app wakes the outbox worker with it)."""
        self.db, self.handler, self.clock = db, handler, clock
        self.speech_to_text = speech_to_text
        self.on_commit = on_commit
        self._pending: list[tuple[InboundEvent, asyncio.Future, object]] = []
        self._flusher: asyncio.Task | None = None

    async def process(self, event: InboundEvent) -> Processed | None:
        """Returns None for a repeat delivery; otherwise the reply and its outbox row, once committed."""
        if isinstance(event, ChatMessage) and event.is_voice and not event.text:
            event = await self._transcribe(event)
        prepare = getattr(self.handler, "prepare", None)
        unheard = isinstance(event, ChatMessage) and event.is_voice and not event.text
        prepared = await prepare(event) if prepare is not None and not unheard else None  # slow reads happen outside the lock
        future = asyncio.get_running_loop().create_future()
        self._pending.append((event, future, prepared))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await asyncio.shield(future)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                # Optimistic: the whole batch in one transaction, no savepoints (they cost two statements each).
                async with self.db.write() as session:
                    results = [await self._one(session, event, prepared) for event, _, prepared in batch]
                    await session.flush()
            except Exception as exc:
                if len(batch) == 1:
                    batch[0][1].set_exception(exc)
                    continue
                # Something in the batch failed: process each event on its own, so only the culprit fails.
                for event, future, prepared in batch:
                    try:
                        async with self.db.write() as session:
                            result = await self._one(session, event, prepared)
                    except Exception as one_exc:
                        future.set_exception(one_exc)
                    else:
                        future.set_result(result)
                continue
            for (_, future, _), result in zip(batch, results):
                future.set_result(result)
            if self.on_commit is not None:
                self.on_commit()

    async def _one(self, session: AsyncSession, event: InboundEvent, prepared: object = None) -> Processed | None:
        now = self.clock()
        if not await claim_event(session, event.origin.platform, event.dedupe_key, now):
            return None
        if isinstance(event, ChatMessage) and event.is_voice and not event.text:
            reply: Reply | None = Reply(text=VOICE_HELP)
        elif prepared is not None:
            reply = await self.handler(event, session, prepared)  # type: ignore[call-arg]
        else:
            reply = await self.handler(event, session)
        if reply is None:
            return Processed(None, None)
        passive = isinstance(event, ScanEvent) and event.wants_reply
        payload = reply.to_dict()
        if event.origin.reply_route:
            payload["_route"] = dict(event.origin.reply_route)
        await session.flush()  # the handler's own changes first, so a failure is reported as this event's
        outbox_id = (await session.execute(insert(OutboxMessage.__table__).values(
            channel=event.origin.reply_channel, destination=event.origin.reply_to, kind="reply", payload=payload,
            state="pending", attempts=0, next_attempt_at=now + PASSIVE_HOLD if passive else now, created_at=now,
            dedupe_key=f"reply:{event.origin.platform}:{event.dedupe_key}"[:191],
        ).returning(OutboxMessage.__table__.c.id))).scalar_one()
        return Processed(reply, outbox_id)

    async def mark_answered_passively(self, outbox_id: int) -> bool:
        """The reply went back in the HTTP response: make sure the worker does not send it again."""
        async with self.db.write() as session:
            state = (await session.execute(select(OutboxMessage.state).where(OutboxMessage.id == outbox_id))).scalar()
            if state != "pending":
                return False
            await outbox.mark_sent(session, [outbox_id], self.clock(), note="被动回复")
            return True

    async def _transcribe(self, event: ChatMessage) -> ChatMessage:
        if self.speech_to_text is None:
            return event
        text = await self.speech_to_text(event)
        if not text:
            return event
        return ChatMessage(event.origin, text, event.dedupe_key, event.at, is_voice=True, media_id=event.media_id)
