"""From an inbound event to a reply in the outbox, exactly once, acknowledged fast.

Two steps, group-committed (events that arrive while a transaction runs share the next one; on SQLite the inbox
insert is one raw multi-row statement). The first always comes first:
processing gives way while callbacks flood in (`_Deferring`), so a burst is acknowledged at the speed of the
inbox and answered right after it (an event waits at most `MAX_DEFER`).
1. `accept`: the event is stored in the inbox (`inbound_events`, state 'new', with the event itself) under its
   dedupe key (`core/inbox.py` writes the inbox; `core/outbox.py` the replies). A repeat delivery finds the key
   taken. This is all the platform waits for.
2. `run`: in one unit of work the inbox row turns 'done' (only if it was still 'new'), the handler changes the
   business through core use cases, and its reply is queued in the outbox. A crash between the two steps
   leaves the row 'new'; `resume` processes it after the restart. An event whose handler fails is marked
   'failed' with the error, and the person is told it was recorded.

A reply that may go back synchronously (WeCom `scancode_waitmsg` passive reply) is claimed by processing while
the webhook still waits (`PassiveAnswer`) and stored as sent in the same transaction; otherwise it is queued for
the outbox like any other. A channel whose answers cannot carry files (the WeCom AI bot) registers a
`FileSplitter`: the reply's files then become outbox rows of their own, queued right after the reply's.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core import inbox, outbox
from orderbot.core.keys import fit_key
from orderbot.db.engine import Database, sqlite_timestamp
from orderbot.messaging.inbound import ChatMessage, InboundEvent, Origin, ScanEvent, event_from_dict, event_to_dict
from orderbot.messaging.reply import Reply

log = logging.getLogger("orderbot.pipeline")
MAX_BATCH = inbox.MAX_BATCH
SLICE = 0.004  # seconds of processing per transaction before acknowledgements get the loop back
PREPARING = 2  # events prepared (parsed, read, charted) at once outside the transaction
# Callbacks flood in when 40 arrive within 0.1 s (400/s, more than processing keeps up with): processing then
# waits, an event at most MAX_DEFER s (WeCom waits 5 s for an acknowledgement; people can wait 2 s in a flood).
FLOOD_ARRIVALS, FLOOD_WINDOW = 40, 0.1
MAX_DEFER = 2.0
FAILED_REPLY = "抱歉，处理这条消息时出错了，已记录（编号 #{id}），请稍后再试或联系管理员。"


class Handler(Protocol):
    """`handler(event, session)` inside the unit of work. A handler may also offer `prepare(event)`, run before
    the transaction (reading, rendering charts), whose result is passed as a third argument."""

    async def __call__(self, event: InboundEvent, session: AsyncSession) -> Reply | None: ...


SpeechToText = Callable[[ChatMessage], Awaitable[str | None]]
# (session, the event's origin, the reply) → (the reply without its files, [(destination, kind, payload)] one
# outbox row per file, on the reply's channel)
FileSplitter = Callable[[AsyncSession, Origin, Reply], Awaitable[tuple[Reply, list[tuple[str, str, dict[str, Any]]]]]]

VOICE_HELP = "暂时听不懂企业微信的语音消息：请长按语音选择「转文字」后发送文字，或直接打字告诉我。"


@dataclass(frozen=True)
class Processed:
    reply: Reply | None
    outbox_id: int | None
    passive: bool = False  # the reply is to go back in the HTTP response (its row is stored as sent)
    held: bool = False  # the caller sends it and confirms (`confirm_sent`); the row waits for that, or its hold to end


class PassiveAnswer:
    """A webhook waiting to send the reply back in its HTTP response (a WeCom `scancode_waitmsg`). Processing
    claims it in the transaction that queues the reply, which is then stored as already sent (no second write
    after the response); a webhook that stopped waiting first makes processing queue the reply for the outbox.
    Both moves happen without an await in between, so exactly one of them wins."""

    def __init__(self, fits: Callable[[Reply], bool], *, until: float | None = None, hold: timedelta | None = None):
        """`until`: loop time after which processing no longer claims (the webhook must still have time to
        wait for the commit and answer within the platform's deadline). `hold`: the answer goes over a link that
        confirms delivery (the AI bot's long connection), so its row is not stored as sent but kept pending and
        due only after `hold`; the caller marks it sent once the platform confirmed (`confirm_sent`), or due at
        once if the link failed (`reopen_reply`), and a process that died in between leaves it to the outbox."""
        self.fits = fits  # whether a reply can go back in the response at all
        self.until, self.hold = until, hold
        self.state = "waiting"  # → claimed | gave_up

    def claim(self, reply: Reply) -> bool:
        if (
            self.state == "waiting"
            and self.fits(reply)
            and (self.until is None or asyncio.get_running_loop().time() < self.until)
        ):
            self.state = "claimed"
        return self.state == "claimed"  # a batch retried one by one claims again

    def give_up(self) -> bool:
        """False when processing has claimed the answer: its commit is moments away, wait for it."""
        if self.state == "waiting":
            self.state = "gave_up"
        return self.state == "gave_up"


class _Batcher:
    """Run queued items in shared transactions: one commit per burst instead of one per item. `flooded` and
    `busy` tell another batcher whether this one's work is pouring in or waiting."""

    def __init__(
        self, work: Callable[[list], Awaitable[list]], flood: tuple[int, float] = (FLOOD_ARRIVALS, FLOOD_WINDOW)
    ):
        self._work, self._pending, self._task = work, [], None
        self._arrivals: collections.deque[float] = collections.deque(maxlen=flood[0])
        self._flood_window = flood[1]

    def flooded(self) -> bool:
        """Items are pouring in: the last `flood[0]` arrived within `flood[1]` seconds."""
        arrivals = self._arrivals
        return len(arrivals) == arrivals.maxlen and asyncio.get_running_loop().time() - arrivals[0] < self._flood_window

    async def submit(self, item, *, urgent: bool = False, since: float | None = None):
        """`since`: when the item's wait began (loop time), if before now."""
        return await asyncio.shield(self.enqueue(item, urgent=urgent, since=since))

    def enqueue(self, item, *, urgent: bool = False, since: float | None = None) -> asyncio.Future:
        """Queue `item` now (no await, so the order of calls is the order of the queue); its outcome's future."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._arrivals.append(now)
        future = loop.create_future()
        entry = (item, future, urgent, now if since is None else since)
        if urgent:  # ahead of waiting background work, behind other urgent items
            at = next((i for i, e in enumerate(self._pending) if not e[2]), len(self._pending))
            self._pending.insert(at, entry)
        else:
            self._pending.append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())
        return future

    async def _next_batch(self) -> list:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        return batch

    async def _drain(self) -> None:
        while self._pending:
            batch = await self._next_batch()
            if not batch:
                continue
            started = time.perf_counter()
            try:
                outcomes = await self._work([item for item, *_ in batch])
            except Exception as exc:  # handed to every waiter of the batch
                outcomes = [exc] * len(batch)
            took = time.perf_counter() - started
            if len(outcomes) < len(batch):  # the work stopped early (its time slice ran out): the rest go back
                self._pending[:0] = batch[len(outcomes) :]
            for (_, future, *_), outcome in zip(batch, outcomes):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
            await self._breathe(took)

    @property
    def busy(self) -> bool:
        return bool(self._pending) or (self._task is not None and not self._task.done())

    async def _breathe(self, took: float) -> None:
        await asyncio.sleep(0)  # what arrived meanwhile runs in between


class _Deferring(_Batcher):
    """Processing: it gives way to acknowledgements. While callbacks flood in (`_Batcher.flooded`) background
    work waits, but never longer than `max_defer` since it arrived; it runs in slices (the work
    function stops after `SLICE` seconds) with the loop free for acknowledgements in between. Urgent work
    (someone waits on the HTTP response: a passive scan reply) never waits."""

    def __init__(
        self, work: Callable[[list], Awaitable[list]], acks: _Batcher, *, max_defer: float, poll: float = 0.005
    ):
        super().__init__(work)
        self.acks, self.max_defer, self.poll = acks, max_defer, poll
        self._waiting: collections.deque[tuple[float, asyncio.Future]] = collections.deque()
        self._gatekeeper: asyncio.Task | None = None

    def _deferring(self, since: float) -> bool:
        return self.acks.flooded() and asyncio.get_running_loop().time() - since < self.max_defer

    async def give_way(self, since: float) -> None:
        """Wait while acknowledgements are arriving (at most until `max_defer` after `since`). Waiters leave in
        the order they came, so one person's messages are still prepared in the order they were sent."""
        if not self._waiting and not self._deferring(since):
            return
        gate = asyncio.get_running_loop().create_future()
        self._waiting.append((since, gate))
        if self._gatekeeper is None or self._gatekeeper.done():
            self._gatekeeper = asyncio.ensure_future(self._keep_gate())
        await gate

    async def _keep_gate(self) -> None:
        while self._waiting:
            if self._deferring(self._waiting[0][0]):  # the oldest waiter decides
                await asyncio.sleep(self.poll)
                continue
            while self._waiting:
                _, gate = self._waiting.popleft()
                if not gate.done():
                    gate.set_result(None)

    async def _breathe(self, took: float) -> None:
        """After a slice, acknowledgements that queued meanwhile go first, for at most as long as the slice took:
        under overload processing keeps half the time, otherwise it loses next to nothing."""
        loop = asyncio.get_running_loop()
        until = loop.time() + took
        await asyncio.sleep(0)
        while self.acks.busy and loop.time() < until and not (self._pending and self._pending[0][2]):
            await asyncio.sleep(0)

    async def _next_batch(self) -> list:
        while self._pending and not self._pending[0][2] and self._deferring(self._pending[0][3]):
            await asyncio.sleep(self.poll)
        return await super()._next_batch()


class InboundPipeline:
    def __init__(
        self,
        db: Database,
        handler: Handler,
        clock: Callable[[], datetime],
        *,
        speech_to_text: SpeechToText | None = None,
        on_commit: Callable[[], None] | None = None,
        max_defer: float = MAX_DEFER,
        flood: tuple[int, float] = (FLOOD_ARRIVALS, FLOOD_WINDOW),
        split_files: dict[str, FileSplitter] | None = None,
    ):
        """`on_commit` runs after each processed batch commits (the app wakes the outbox worker with it).
        Processing waits while callbacks flood in (`flood`: that many within that many seconds), an event at
        most `max_defer` s. `split_files`: reply channel → its `FileSplitter`."""
        self.db, self.handler, self.clock = db, handler, clock
        self.split_files = split_files or {}
        self.speech_to_text = speech_to_text
        self.on_commit = on_commit
        self._accepting = _Batcher(self._accept_batch, flood)
        self._running = _Deferring(self._run_batch, self._accepting, max_defer=max_defer)
        self._preparing = asyncio.Semaphore(PREPARING)
        self._backlog: collections.deque[tuple[int, InboundEvent, float]] = collections.deque()
        self._backlog_task: asyncio.Task | None = None
        self._scheduled: set[asyncio.Task] = set()
        self._last_queued: asyncio.Future | None = None
        self._closed = False

    # --- step 1: the inbox ---------------------------------------------------------------------------------
    async def accept(self, event: InboundEvent) -> int | None:
        """Store the event durably; its inbox id, or None when this dedupe key was seen before. Events arriving
        together share one statement and one commit."""
        return await self._accepting.submit(event)

    async def _accept_batch(self, events: list[InboundEvent]) -> list[int | None]:
        now = self.clock()
        rows, seen = [], set()
        for e in events:
            key = (e.origin.platform, fit_key(e.dedupe_key))
            if key not in seen:
                seen.add(key)
                rows.append((key[0], key[1], event_to_dict(e)))
        if self.db.raw_sqlite:  # the hottest write of all: straight on sqlite3, one statement per batch
            returned = await self.db.raw_write(inbox.accept_sqlite(rows, sqlite_timestamp(now)))
        else:
            async with self.db.write() as session:
                returned = await inbox.accept(session, rows, now)
        ids = {(source, key): row_id for row_id, source, key in returned}
        out = []
        for e in events:  # within one batch only the first delivery of a key gets its id
            out.append(ids.pop((e.origin.platform, fit_key(e.dedupe_key)), None))
        return out

    # --- step 2: processing --------------------------------------------------------------------------------
    async def process(self, event: InboundEvent) -> Processed | None:
        """Accept and run now; None for a repeat delivery (the sandbox, `orderbot ask` and tests use this)."""
        inbox_id = await self.accept(event)
        if inbox_id is None:
            return None
        return await self.run(inbox_id, event, urgent=True)

    def schedule(self, inbox_id: int, event: InboundEvent) -> None:
        """Process an accepted event in the background, nobody waiting on the answer (it goes out through the
        outbox). During a flood this is one append to a queue: the one backlog task starts each event's work
        when acknowledgements give way, `PREPARING` preparing at a time; events join the processing queue in
        arrival order whatever their preparing took. After `close` it does nothing: the row stays `new` in the
        inbox and is resumed by the next start."""
        if self._closed:
            return
        self._backlog.append((inbox_id, event, asyncio.get_running_loop().time()))
        if self._backlog_task is None or self._backlog_task.done():
            self._backlog_task = asyncio.ensure_future(self._work_backlog())

    async def _work_backlog(self) -> None:
        slots = asyncio.Semaphore(PREPARING)
        while self._backlog:
            await self._running.give_way(self._backlog[0][2])
            await slots.acquire()  # released once that event is queued for processing
            inbox_id, event, since = self._backlog.popleft()
            queued = asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(self._run_scheduled(inbox_id, event, since, self._last_queued, queued, slots))
            self._scheduled.add(task)
            task.add_done_callback(self._scheduled.discard)
            self._last_queued = queued  # the next event, even from a later backlog task, queues after this one

    async def _run_scheduled(
        self,
        inbox_id: int,
        event: InboundEvent,
        since: float,
        previous: asyncio.Future | None,
        queued: asyncio.Future,
        slots: asyncio.Semaphore,
    ) -> None:
        outcome = None
        try:
            try:
                prepared, event = await self._prepare(inbox_id, event)
            except Exception:  # recorded as failed, and the person told, by _prepare
                return
            if previous is not None:
                await asyncio.shield(previous)  # the event before this one joins the queue first
            outcome = self._running.enqueue((inbox_id, event, prepared, None), since=since)
        finally:
            if not queued.done():
                queued.set_result(None)
            slots.release()
        try:
            await asyncio.shield(outcome)
        except Exception as exc:
            await self._failed(inbox_id, event, exc)

    async def drain(self, timeout: float = 10) -> None:
        """Wait until the scheduled events are processed (tests), at most `timeout` seconds."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            pending = [t for t in (self._backlog_task, *self._scheduled) if t is not None and not t.done()]
            left = deadline - asyncio.get_running_loop().time()
            if not pending or left <= 0:
                return
            await asyncio.wait(pending, timeout=left)

    async def close(self, timeout: float = 10) -> None:
        """At shutdown: take no more events, give those under way `timeout` seconds, then stop the rest. What
        was not processed stays `new` in the inbox and is resumed by the next start."""
        self._closed = True
        await self.drain(timeout)
        self._backlog.clear()
        for task in (self._backlog_task, *self._scheduled):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._backlog_task, *self._scheduled) if t is not None), return_exceptions=True
        )

    async def run(
        self, inbox_id: int, event: InboundEvent, *, urgent: bool | None = None, answer: PassiveAnswer | None = None
    ) -> Processed | None:
        """Process an accepted event; None if it had been processed already (a resumed duplicate). `urgent`
        (default: a scan whose reply goes back in the HTTP response) when someone waits for the answer now;
        other events give way to acknowledgements (see `_Deferring`), and prepare a few at a time so a
        backlog released at once does not hold the event loop."""
        if urgent is None:
            urgent = isinstance(event, ScanEvent) and event.wants_reply
        arrived = asyncio.get_running_loop().time()
        if urgent:
            prepared, event = await self._prepare(inbox_id, event)
        else:
            await self._running.give_way(arrived)
            async with self._preparing:
                prepared, event = await self._prepare(inbox_id, event)
        try:
            return await self._running.submit((inbox_id, event, prepared, answer), urgent=urgent, since=arrived)
        except Exception as exc:
            await self._failed(inbox_id, event, exc)
            raise

    async def _prepare(self, inbox_id: int, event: InboundEvent) -> tuple[object, InboundEvent]:
        if isinstance(event, ChatMessage) and event.is_voice and not event.text:
            event = await self._transcribe(event)
        prepare = getattr(self.handler, "prepare", None)
        unheard = isinstance(event, ChatMessage) and event.is_voice and not event.text
        try:  # slow reads and charts happen here, outside the write lock
            return (await prepare(event) if prepare is not None and not unheard else None), event
        except Exception as exc:
            await self._failed(inbox_id, event, exc)
            raise

    async def _run_batch(self, items: list) -> list:
        try:
            # Optimistic: the whole batch in one transaction, no savepoints (they cost two statements each).
            async with self.db.write() as session:
                results, started = [], time.perf_counter()
                for item in items:  # as many as fit in one time slice; the rest go back to the queue
                    results.append(await self._one(session, *item))
                    if time.perf_counter() - started > SLICE:
                        break
                await session.flush()
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            # Something in the batch failed: process each item on its own, so only the culprit fails.
            results = []
            for item in items:
                try:
                    async with self.db.write() as session:
                        results.append(await self._one(session, *item))
                except Exception as one_exc:
                    results.append(one_exc)
        if self.on_commit is not None:
            self.on_commit()
        return results

    async def _one(
        self,
        session: AsyncSession,
        inbox_id: int,
        event: InboundEvent,
        prepared: object = None,
        answer: PassiveAnswer | None = None,
    ) -> Processed | None:
        now = self.clock()
        if not await inbox.mark_done(session, inbox_id):
            return None
        if isinstance(event, ChatMessage) and event.is_voice and not event.text:
            reply: Reply | None = Reply(text=VOICE_HELP)
        elif prepared is not None:
            reply = await self.handler(event, session, prepared)  # type: ignore[call-arg]
        else:
            reply = await self.handler(event, session)
        if reply is None:
            return Processed(None, None)
        await session.flush()  # the handler's own changes first, so a failure is reported as this event's
        apart: list[tuple[str, str, dict[str, Any]]] = []
        splitter = self.split_files.get(event.origin.reply_channel) if reply.files else None
        if splitter is not None:
            reply, apart = await splitter(session, event.origin, reply)
        passive = answer is not None and answer.claim(reply)
        held = passive and answer is not None and answer.hold is not None
        outbox_id = await self._queue_reply(
            session, event, reply, now, sent=passive and not held, due=now + answer.hold if held and answer else None
        )
        for i, (destination, kind, payload) in enumerate(apart, 1):  # after the reply's row: sent after it
            await outbox.enqueue(
                session,
                channel=event.origin.reply_channel,
                destination=destination,
                kind=kind,
                payload=payload,
                now=now,
                dedupe_key=fit_key(f"reply:{event.origin.platform}:{event.dedupe_key}:file{i}"),
            )
        return Processed(reply, outbox_id, passive, held)

    @staticmethod
    async def _queue_reply(
        session: AsyncSession,
        event: InboundEvent,
        reply: Reply,
        now: datetime,
        *,
        sent: bool = False,
        due: datetime | None = None,
        suffix: str = "",
    ) -> int:
        """The reply's outbox row; `sent` when it goes back in the HTTP response instead (kept as the record);
        `due`: not before then (held for a caller that sends it itself)."""
        payload = reply.to_dict()
        if event.origin.reply_route:
            payload["_route"] = dict(event.origin.reply_route)
        return await outbox.queue_reply(
            session,
            channel=event.origin.reply_channel,
            destination=event.origin.reply_to,
            payload=payload,
            now=now,
            dedupe_key=fit_key(f"reply:{event.origin.platform}:{event.dedupe_key}{suffix}"),
            passive=sent,
            due=due,
        )

    async def _failed(self, inbox_id: int, event: InboundEvent, exc: BaseException) -> None:
        """Record the failure on the inbox row (so it is not retried for ever) and tell the person."""
        log.error("processing inbound event #%s failed", inbox_id, exc_info=exc)
        try:
            async with self.db.write() as session:
                if await inbox.mark_failed(session, inbox_id, f"{type(exc).__name__}: {exc}"):
                    await self._queue_reply(
                        session, event, Reply(text=FAILED_REPLY.format(id=inbox_id)), self.clock(), suffix=":failed"
                    )
        except Exception:  # the database itself is failing; the row stays 'new' and `resume` retries it
            log.exception("could not record the failure of inbound event #%s", inbox_id)

    async def resume(self, older_than: timedelta = timedelta(seconds=0)) -> int:
        """Process inbox rows left 'new' (by a crash, or a platform acknowledged before processing)."""
        cutoff = self.clock() - older_than
        async with self.db.read() as session:
            rows = await inbox.unprocessed(session, cutoff)
        done = 0
        for inbox_id, payload in rows:
            try:
                if await self.run(inbox_id, event_from_dict(payload)) is not None:
                    done += 1
            except Exception:  # recorded as failed by run(); go on with the others
                continue
        return done

    async def confirm_sent(self, outbox_id: int) -> None:
        """A held reply (`PassiveAnswer(hold=…)`) the platform confirmed: stored as sent."""
        async with self.db.write() as session:
            await outbox.mark_sent(session, [outbox_id], self.clock())

    async def reopen_reply(self, outbox_id: int, progress: dict[str, Any] | None = None) -> bool:
        """A reply stored as answered in the HTTP response whose response did not go out after all, or a held
        reply whose link failed: queue it for the outbox, due now (the rare other side of `PassiveAnswer`).
        `progress`: what of it was delivered already (the sender's progress dict); the outbox resumes after it."""
        async with self.db.write() as session:
            reopened = await outbox.reopen_passive(session, outbox_id, self.clock(), progress)
        if reopened and self.on_commit is not None:
            self.on_commit()
        return reopened

    async def _transcribe(self, event: ChatMessage) -> ChatMessage:
        if self.speech_to_text is None:
            return event
        text = await self.speech_to_text(event)
        if not text:
            return event
        return ChatMessage(event.origin, text, event.dedupe_key, event.at, is_voice=True, media_id=event.media_id)
