"""The inbound pipeline: the inbox acknowledges once per key, processing runs once per event, a failure stays
isolated and is recorded, and a crash between the two steps is resumed."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from orderbot.bot.inbound import CardAction, ChatMessage, Origin, ScanEvent, event_from_dict, event_to_dict
from orderbot.bot.pipeline import FAILED_REPLY, InboundPipeline
from orderbot.bot.reply import Reply
from orderbot.core.models import InboundEvent, OutboxMessage


def msg(i: int, clock, text: str = "hi") -> ChatMessage:
    origin = Origin("sandbox", f"U{i % 5}", reply_channel="sandbox", reply_to=f"user:U{i % 5}")
    return ChatMessage(origin, text, f"msg:{i}", clock())


async def _states(db) -> dict[str, int]:
    async with db.read() as s:
        return dict((await s.execute(select(InboundEvent.state, func.count()).group_by(InboundEvent.state))).all())


async def test_burst_is_processed_once_each_and_a_failure_stays_isolated(db, clock):
    calls = []

    async def handler(event, session):
        calls.append(event.dedupe_key)
        if event.text == "boom":
            raise RuntimeError("handler failed")
        return Reply(text=f"re:{event.dedupe_key}")

    pipeline = InboundPipeline(db, handler, clock)
    events = [msg(i, clock, "boom" if i == 7 else "hi") for i in range(40)]
    results = await asyncio.gather(*(pipeline.process(e) for e in events + events[:10]), return_exceptions=True)
    failures = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert failures == [7] and str(results[7]) == "handler failed"
    assert all(r is not None for i, r in enumerate(results[:40]) if i != 7)
    assert results[40:] == [None] * 10  # repeats inside the burst: acknowledged once, never processed twice
    assert await _states(db) == {"done": 39, "failed": 1}
    async with db.read() as s:
        replies = (await s.execute(select(OutboxMessage.payload))).scalars().all()
        failed = (await s.execute(select(InboundEvent).where(InboundEvent.state == "failed"))).scalar_one()
    assert len(replies) == 40  # 39 answers and one "recorded, sorry" for the failure
    assert FAILED_REPLY.format(id=failed.id) in [r["text"] for r in replies]
    assert failed.error == "RuntimeError: handler failed"
    # a platform retry of the failed event is a duplicate: it was acknowledged and recorded
    assert await pipeline.process(events[7]) is None


async def test_accepted_but_unprocessed_events_are_resumed_once(db, clock):
    handled = []

    async def handler(event, session):
        handled.append(event.dedupe_key)
        return Reply(text="ok")

    pipeline = InboundPipeline(db, handler, clock)
    ids = [await pipeline.accept(msg(i, clock)) for i in range(5)]  # acknowledged, then the process "crashed"
    assert all(ids) and await pipeline.accept(msg(0, clock)) is None
    assert await _states(db) == {"new": 5}
    restarted = InboundPipeline(db, handler, clock)
    assert await restarted.resume() == 5
    assert await restarted.resume() == 0
    assert sorted(handled) == [f"msg:{i}" for i in range(5)]
    assert await _states(db) == {"done": 5}


async def test_an_event_whose_writes_fail_at_flush_is_recorded_as_failed(db, clock):
    async def handler(event, session):
        session.add(OutboxMessage(channel="x", destination="y", kind="reply", payload={}, state="pending",
                                  attempts=0, next_attempt_at=clock(), created_at=clock(), dedupe_key="same"))
        return None

    pipeline = InboundPipeline(db, handler, clock)
    assert await pipeline.process(msg(1, clock)) is not None
    try:
        await pipeline.process(msg(2, clock))
    except Exception as exc:
        assert "UNIQUE" in str(exc).upper() or "unique" in str(exc)
    else:
        raise AssertionError("the second event's duplicate outbox key must fail")
    assert await _states(db) == {"done": 1, "failed": 1}


def test_inbound_values_round_trip_through_the_inbox(clock):
    origin = Origin("dingtalk", "0101", "cid", reply_channel="dingtalk", reply_to="group:cid",
                    reply_route=(("session", "http://x"),))
    for event in (ChatMessage(origin, "查单", "msg:1", clock(), is_voice=True, media_id="m"),
                  ScanEvent(origin, "QR_CODE,OB1|…", "evt:1", clock(), station="pack-1", wants_reply=True),
                  CardAction(origin, "undo:x", "evt:2", clock(), task_id="t", selections={"q": ("a", "b")})):
        assert event_from_dict(event_to_dict(event)) == event
