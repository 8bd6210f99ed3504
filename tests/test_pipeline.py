"""The inbound pipeline: group commit keeps each event exactly once and isolates a failing one."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from orderbot.bot.inbound import ChatMessage, Origin
from orderbot.bot.pipeline import InboundPipeline
from orderbot.bot.reply import Reply
from orderbot.core.models import InboundEvent, OutboxMessage


def msg(i: int, clock, text: str = "hi") -> ChatMessage:
    origin = Origin("sandbox", f"U{i % 5}", reply_channel="sandbox", reply_to=f"user:U{i % 5}")
    return ChatMessage(origin, text, f"msg:{i}", clock())


async def test_burst_is_processed_once_each_and_a_failure_stays_isolated(db, clock):
    async def handler(event, session):
        if event.text == "boom":
            raise RuntimeError("handler failed")
        return Reply(text=f"re:{event.dedupe_key}")

    pipeline = InboundPipeline(db, handler, clock)
    events = [msg(i, clock, "boom" if i == 7 else "hi") for i in range(40)]
    results = await asyncio.gather(*(pipeline.process(e) for e in events + events[:10]), return_exceptions=True)
    failures = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert failures == [7, 47]  # the failing event and its repeat: never recorded, so never deduplicated
    assert all(str(results[i]) == "handler failed" for i in failures)
    done = [r for r in results[:40] if not isinstance(r, Exception)]
    assert len(done) == 39 and all(r is not None for r in done)
    assert all(r is None for i, r in enumerate(results[40:], start=40) if i != 47)  # repeats: duplicates
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(InboundEvent))).scalar() == 39
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar() == 39
    # the failed event was not recorded, so the platform's retry is processed afresh
    ok = await InboundPipeline(db, lambda e, s: _reply(), clock).process(events[7])
    assert ok is not None and ok.reply.text == "retried"


async def _reply():
    return Reply(text="retried")


async def test_an_event_whose_writes_fail_at_flush_is_not_acknowledged(db, clock):
    async def handler(event, session):
        session.add(OutboxMessage(channel="x", destination="y", kind="reply", payload={}, state="pending",
                                  attempts=0, next_attempt_at=clock(), created_at=clock(), dedupe_key="same"))
        return None

    pipeline = InboundPipeline(db, handler, clock)
    first = await pipeline.process(msg(1, clock))
    assert first is not None
    with pytest.raises(Exception):
        await pipeline.process(msg(2, clock))
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(InboundEvent))).scalar() == 1
