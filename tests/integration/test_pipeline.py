"""The inbound pipeline: the inbox acknowledges once per key, processing runs once per event, a failure stays
isolated and is recorded, and a crash between the two steps is resumed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from orderbot.messaging.inbound import CardAction, ChatMessage, Origin, ScanEvent, event_from_dict, event_to_dict
from orderbot.messaging.pipeline import FAILED_REPLY, InboundPipeline
from orderbot.messaging.reply import Reply
from orderbot.core.models import InboundEvent, OutboxMessage


def msg(i: int, clock, text: str = "hi") -> ChatMessage:
    origin = Origin("sandbox", f"U{i % 5}", reply_channel="sandbox", reply_to=f"user:U{i % 5}")
    return ChatMessage(origin, text, f"msg:{i}", clock())


def passive_scan(i: int, clock) -> ScanEvent:
    """A scan that wants its reply passively, in the webhook's response."""
    return ScanEvent(
        Origin("wecom", "U1", reply_channel="wecom", reply_to="user:U1"),
        "OB1|x",
        f"scan:{i}",
        clock(),
        wants_reply=True,
    )


async def _run(pipeline, event, answer):
    return await pipeline.run(await pipeline.accept(event), event, answer=answer)


def _failing_on_boom(log: list):
    """A handler that logs each event's key and fails on the text "boom"."""

    async def handler(event, session):
        log.append(event.dedupe_key)
        if event.text == "boom":
            raise RuntimeError("handler failed")
        return Reply(text=f"re:{event.dedupe_key}")

    return handler


async def _states(db) -> dict[str, int]:
    async with db.read() as s:
        return dict((await s.execute(select(InboundEvent.state, func.count()).group_by(InboundEvent.state))).all())


async def test_burst_is_processed_once_each_and_a_failure_stays_isolated(db, clock):
    calls = []
    pipeline = InboundPipeline(db, _failing_on_boom(calls), clock)
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
        session.add(
            OutboxMessage(
                channel="x",
                destination="y",
                kind="reply",
                payload={},
                state="pending",
                attempts=0,
                next_attempt_at=clock(),
                created_at=clock(),
                dedupe_key="same",
            )
        )
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
    origin = Origin(
        "dingtalk",
        "0101",
        "cid",
        reply_channel="dingtalk",
        reply_to="group:cid",
        reply_route=(("session", "http://x"),),
    )
    for event in (
        ChatMessage(origin, "查单", "msg:1", clock(), is_voice=True, media_id="m"),
        ScanEvent(origin, "QR_CODE,OB1|…", "evt:1", clock(), station="pack-1", wants_reply=True),
        CardAction(origin, "undo:x", "evt:2", clock(), task_id="t", selections={"q": ("a", "b")}),
    ):
        assert event_from_dict(event_to_dict(event)) == event


def _recording_handler(log: list):
    async def handler(event, session):
        log.append((event.dedupe_key, asyncio.get_running_loop().time()))
        return Reply(text="ok")

    return handler


async def _stream(pipeline, clock, keys: range, gap: float, extra=None) -> tuple[list, float]:
    """Deliver events like a platform would (accept, then process in the background) every `gap` seconds;
    the background runs and the loop time the stream ended."""
    runs = []
    for i in keys:
        event = msg(i, clock)
        inbox_id = await pipeline.accept(event)
        runs.append(asyncio.ensure_future(pipeline.run(inbox_id, event)))
        if extra is not None and i == keys[len(keys) // 2]:
            runs.append(asyncio.ensure_future(extra()))
        await asyncio.sleep(gap)
    return runs, asyncio.get_running_loop().time()


FLOOD = (10, 0.4)  # a flood, for these tests: 10 callbacks within 0.4 s (the streams below send 10 in ~0.1 s)


async def test_processing_waits_while_callbacks_flood_in_then_answers_in_order(db, clock):
    handled = []
    pipeline = InboundPipeline(db, _recording_handler(handled), clock, max_defer=30, flood=FLOOD)
    urgent_scan = ScanEvent(
        Origin("sandbox", "U1", reply_channel="sandbox", reply_to="user:U1"),
        "OB1|x",
        "scan:1",
        clock(),
        wants_reply=True,
    )

    async def scan():  # someone waits on the HTTP response for this one: it never waits for the burst
        return await pipeline.run(await pipeline.accept(urgent_scan), urgent_scan)

    runs, ended = await _stream(pipeline, clock, range(30), 0.01, extra=scan)
    await asyncio.gather(*runs)
    times = dict(handled)
    chats = [key for key, _ in handled if key.startswith("msg:")]
    assert chats == [f"msg:{i}" for i in range(30)]  # answered in the order they were sent
    assert times["msg:0"] < ended  # before the flood, an event is processed at once
    assert all(times[f"msg:{i}"] >= ended for i in range(10, 30))  # none while the flood lasted
    assert times["scan:1"] < ended
    assert await _states(db) == {"done": 31}


async def test_a_waiting_event_is_processed_after_max_defer_even_if_callbacks_never_stop(db, clock):
    handled = []
    pipeline = InboundPipeline(db, _recording_handler(handled), clock, max_defer=0.1, flood=FLOOD)
    runs, ended = await _stream(pipeline, clock, range(60), 0.01)
    await asyncio.gather(*runs)
    assert dict(handled)["msg:20"] < ended  # the flood lasted > 0.6 s; each event waited about 0.1 s


async def test_processing_runs_in_time_slices_with_commits_in_between(db, clock, monkeypatch):
    from orderbot.messaging import pipeline as module

    commits = []
    pipeline = InboundPipeline(db, _recording_handler([]), clock, on_commit=lambda: commits.append(1))

    async def burst(keys: range) -> None:  # all queued before the first transaction starts
        events = [msg(i, clock) for i in keys]
        ids = [await pipeline.accept(e) for e in events]
        await asyncio.gather(*(pipeline.run(i, e, urgent=True) for i, e in zip(ids, events)))

    monkeypatch.setattr(module, "SLICE", 10.0)
    await burst(range(3))
    assert len(commits) == 1  # a burst shares one transaction while it fits in a slice
    monkeypatch.setattr(module, "SLICE", 0.0)  # every event overruns the slice: one transaction each
    await burst(range(3, 6))
    assert len(commits) == 4 and await _states(db) == {"done": 6}


async def test_a_passive_answer_is_stored_as_sent_or_queued_whichever_side_moved_first(db, clock):
    from orderbot.messaging.pipeline import PassiveAnswer

    pipeline = InboundPipeline(db, _recording_handler([]), clock)

    waiting = PassiveAnswer(lambda reply: True)  # the webhook still waits: the reply goes back in the response
    first = await _run(pipeline, passive_scan(1, clock), waiting)
    assert first.passive and waiting.state == "claimed" and not waiting.give_up()
    gone = PassiveAnswer(lambda reply: True)  # the webhook stopped waiting: the outbox sends it, at once
    assert gone.give_up()
    second = await _run(pipeline, passive_scan(2, clock), gone)
    too_big = PassiveAnswer(lambda reply: False)  # does not fit a passive reply: the outbox sends it
    third = await _run(pipeline, passive_scan(3, clock), too_big)
    assert not second.passive and not third.passive and too_big.give_up()
    async with db.read() as s:
        rows = {r.id: r for r in (await s.execute(select(OutboxMessage))).scalars()}
    assert rows[first.outbox_id].state == "sent" and rows[first.outbox_id].last_error == "被动回复"
    for p in (second, third):
        assert rows[p.outbox_id].state == "pending" and rows[p.outbox_id].next_attempt_at == clock()


async def test_a_held_answer_is_sent_only_when_confirmed_else_by_the_outbox(db, clock):
    """The AI bot's long connection: the answer goes straight back, but its row is only pending (held) until
    WeCom acknowledged the frame; a failed link makes it due at once; a process that died leaves it to the
    outbox when the hold ends. A message nobody received is never stored as sent."""
    from orderbot.core import outbox
    from orderbot.messaging.pipeline import PassiveAnswer

    pipeline = InboundPipeline(db, _recording_handler([]), clock)
    hold = timedelta(seconds=60)
    confirmed, failed, died = [
        await _run(pipeline, passive_scan(i, clock), PassiveAnswer(lambda reply: True, hold=hold)) for i in (1, 2, 3)
    ]
    assert all(p.passive and p.held for p in (confirmed, failed, died))
    async with db.write() as s:
        assert await outbox.claim_due(s, clock()) == []  # held: the outbox leaves them alone
    await pipeline.confirm_sent(confirmed.outbox_id)  # WeCom acknowledged the frames
    assert await pipeline.reopen_reply(failed.outbox_id)  # the link dropped: due now
    async with db.write() as s:
        assert [c.id for c in await outbox.claim_due(s, clock())] == [failed.outbox_id]
        await outbox.mark_sent(s, [failed.outbox_id], clock())  # the outbox sent it after the reconnect
    async with db.write() as s:  # the process died before either: the outbox sends it once the hold ends
        assert [c.id for c in await outbox.claim_due(s, clock() + hold + timedelta(seconds=1))] == [died.outbox_id]
    async with db.read() as s:
        states = {r.id: r.state for r in (await s.execute(select(OutboxMessage))).scalars()}
    assert states[confirmed.outbox_id] == "sent" and states[died.outbox_id] != "sent"


async def test_scheduled_events_are_processed_in_order_and_a_failure_is_recorded(db, clock):
    handled = []
    pipeline = InboundPipeline(db, _failing_on_boom(handled), clock, flood=FLOOD)
    for i in range(12):  # a flood: the later ones wait for it to pass, then all go in arrival order
        event = msg(i, clock, "boom" if i == 4 else "hi")
        pipeline.schedule(await pipeline.accept(event), event)
    await pipeline.drain()
    # (a batch that fails is redone one by one, so handlers before the culprit ran twice; once committed)
    assert list(dict.fromkeys(handled)) == [f"msg:{i}" for i in range(12)]
    assert await _states(db) == {"done": 11, "failed": 1}


async def test_a_late_claim_is_refused_and_a_claimed_reply_not_answered_goes_back_to_the_outbox(db, clock):
    from orderbot.messaging.pipeline import PassiveAnswer

    pipeline = InboundPipeline(db, _recording_handler([]), clock)
    loop = asyncio.get_running_loop()

    late = PassiveAnswer(lambda reply: True, until=loop.time() - 0.1)  # too close to the platform's deadline
    refused = await _run(pipeline, passive_scan(1, clock), late)
    claimed = await _run(pipeline, passive_scan(2, clock), PassiveAnswer(lambda reply: True, until=loop.time() + 60))
    assert not refused.passive and claimed.passive
    assert await pipeline.reopen_reply(claimed.outbox_id)  # its HTTP response did not go out after all
    assert not await pipeline.reopen_reply(claimed.outbox_id)  # once
    async with db.read() as s:
        states = {r.id: r.state for r in (await s.execute(select(OutboxMessage))).scalars()}
    assert states == {refused.outbox_id: "pending", claimed.outbox_id: "pending"}


async def test_events_join_processing_in_arrival_order_whatever_their_preparing_takes(db, clock):
    handled = []

    class Slow:
        async def prepare(self, event):
            await asyncio.sleep(0.2 if event.dedupe_key == "msg:0" else 0)  # the first takes longest
            return None

        async def __call__(self, event, session, prepared=None):
            handled.append(event.dedupe_key)
            return Reply(text="ok")

    pipeline = InboundPipeline(db, Slow(), clock)
    for i in range(5):
        event = msg(i, clock)
        pipeline.schedule(await pipeline.accept(event), event)
    await pipeline.drain()
    assert handled == [f"msg:{i}" for i in range(5)]


async def test_close_stops_the_backlog_and_leaves_the_rest_to_resume(db, clock):
    handled = []
    pipeline = InboundPipeline(db, _recording_handler(handled), clock, max_defer=60, flood=(3, 10.0))
    for i in range(6):  # a flood: after the third, events wait
        event = msg(i, clock)
        pipeline.schedule(await pipeline.accept(event), event)
    await pipeline.close(timeout=0.3)
    late = msg(99, clock)
    pipeline.schedule(await pipeline.accept(late), late)  # after close: only stored
    before = len(handled)
    assert before <= 3 and (await _states(db)).get("new", 0) == 7 - before
    restarted = InboundPipeline(db, _recording_handler(handled), clock)
    assert await restarted.resume() == 7 - before
    assert sorted(key for key, _ in handled) == sorted([f"msg:{i}" for i in range(6)] + ["msg:99"])
