"""The outbox worker: claim due messages, fold bursts into digests, respect rate limits, retry with back-off.

Nothing is dropped: a message that may not go yet (rate limit) is put back for when it may, without counting an
attempt. Transient failures back off exponentially with jitter; a platform's rate error waits at least 60 s;
a permanent failure, or too many attempts, makes the message dead, visible in `orderbot outbox --dead`.
Delivery is at-least-once at the platform boundary (a crash between the platform's 200 and our commit could
repeat one send); WeCom app messages and WeChat template messages carry the platform's own dedupe keys.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orderbot.core import outbox
from orderbot.core.outbox import Claimed
from orderbot.db.engine import Database
from orderbot.messaging.senders.base import RateLimiter, Sender, SendError

log = logging.getLogger("orderbot.outbox")


@dataclass
class PlatformAlerts:
    """Configuration problems a person must fix (e.g. untrusted IP): logged, shown in /healthz, and handed to
    `notify` (the app queues an email to the admins) once per new problem."""

    problems: dict[str, str] = field(default_factory=dict)
    notify: Callable[[str, str], Awaitable[None]] | None = None

    async def raise_(self, channel: str, message: str) -> None:
        if self.problems.get(channel) == message:
            return
        log.error("channel %s needs attention: %s", channel, message)
        self.problems[channel] = message
        if self.notify is not None:
            await self.notify(channel, message)

    def clear(self, channel: str) -> None:
        self.problems.pop(channel, None)


def backoff(attempts: int, rng: random.Random, base: float = 5.0, cap: float = 3600.0) -> float:
    """Exponential back-off with full jitter: up to base·2^(n-1) seconds, at most `cap`."""
    return rng.uniform(base / 2, min(cap, base * 2 ** (attempts - 1)))


def fold(messages: list[Claimed]) -> list[tuple[Claimed, list[int]]]:
    """Fold consecutive replies to one destination that share a digest key into one digest message."""
    out: list[tuple[Claimed, list[int]]] = []
    for msg in messages:
        key = msg.payload.get("digest_key") if msg.kind == "reply" else None
        if out and key and out[-1][0].payload.get("digest_key") == key and not out[-1][0].payload.get("_progress"):
            head, folded = out[-1]
            merged = dict(head.payload)
            merged["text"] = merged.get("text", "") + "\n" + msg.payload.get("text", "")
            merged["digest_count"] = merged.get("digest_count", 1) + 1
            out[-1] = (Claimed(head.id, head.channel, head.destination, head.kind, merged, head.attempts,
                               head.created_at), folded + [msg.id])
        else:
            out.append((msg, []))
    for i, (msg, folded) in enumerate(out):
        if folded:
            payload = dict(msg.payload)
            count = payload.pop("digest_count")
            title = payload.get("title") or "通知"
            payload["title"] = f"{title}（汇总 {count} 条）"
            out[i] = (Claimed(msg.id, msg.channel, msg.destination, msg.kind, payload, msg.attempts,
                              msg.created_at), folded)
    return out


GATHER = 0.05  # seconds a woken worker waits, so the messages of many commits go out in one pass


class OutboxWorker:
    def __init__(self, db: Database, senders: dict[str, Sender], clock: Callable[[], datetime], *,
                 max_attempts: int = 8, batch: int = 200, concurrency: int = 16, seed: int | None = None,
                 alerts: PlatformAlerts | None = None):
        self.db, self.senders, self.clock = db, senders, clock
        self.max_attempts, self.batch = max_attempts, batch
        self.limiter = RateLimiter()
        self.alerts = alerts or PlatformAlerts()
        self._rng = random.Random(seed)
        self._sem = asyncio.Semaphore(concurrency)
        self.wake = asyncio.Event()
        self._delivered: list[tuple[list[int], str | None]] = []  # sent, not yet recorded
        self._record_lock = asyncio.Lock()
        self.last_claimed = 0  # rows the last pass claimed: a full batch means more may be due

    async def run_once(self) -> int:
        """Process what is due now; returns the number of messages delivered (folded ones included)."""
        async with self.db.write() as session:
            claimed = await outbox.claim_due(session, self.clock(), self.batch)
        self.last_claimed = len(claimed)
        if not claimed:
            return 0
        groups: dict[tuple[str, str], list[Claimed]] = {}
        unroutable: dict[str, list[int]] = {}
        for msg in claimed:
            if msg.channel in self.senders:
                groups.setdefault((msg.channel, msg.destination), []).append(msg)
            else:
                unroutable.setdefault(msg.channel, []).append(msg.id)
        if unroutable:  # one transaction for all of them, not one per destination
            async with self.db.write() as session:
                for channel, ids in unroutable.items():
                    await outbox.mark_dead(session, ids, f"没有配置渠道 {channel}")
        try:
            results = await asyncio.gather(*(self._drain(key, msgs) for key, msgs in groups.items()))
        finally:
            await self._record_delivered()
        return sum(results)

    async def _record_delivered(self, at_least: int = 1) -> None:
        """Mark delivered messages sent, many per transaction (SQLite serialises writers, so fewer is faster).
        The window between a platform's 200 and this commit is where a crash could repeat a send."""
        if len(self._delivered) < at_least:
            return
        async with self._record_lock:
            batch, self._delivered = self._delivered, []
            if not batch:
                return
            now = self.clock()
            async with self.db.write() as session:
                for ids, note in batch:
                    await outbox.mark_sent(session, ids, now, note=note)

    async def _drain(self, key: tuple[str, str], messages: list[Claimed]) -> int:
        sender = self.senders.get(key[0])
        delivered = 0
        async with self._sem:
            if sender is None:
                async with self.db.write() as session:
                    await outbox.mark_dead(session, [m.id for m in messages], f"没有配置渠道 {key[0]}")
                return 0
            items = fold(messages)
            for index, (msg, folded) in enumerate(items):
                limit = sender.limit_for(msg.destination)
                now = self.clock()
                wait_until = self.limiter.next_free(key, limit, now)
                if wait_until is not None:
                    # Keep order: this and everything after it to the same destination waits its turn.
                    await self._put_back([m for m, _ in items[index:]], [f for _, fs in items[index:] for f in fs],
                                         wait_until)
                    break
                try:
                    progress = dict(msg.payload.get("_progress", {}))
                    self.limiter.record(key, now)
                    note = await sender.send(msg.destination, msg.kind, msg.payload, progress)
                except SendError as exc:
                    await self._failed(msg, folded, exc, key, limit, progress)
                    if exc.retry_after:
                        await self._put_back([m for m, _ in items[index + 1:]],
                                             [f for _, fs in items[index + 1:] for f in fs],
                                             self.clock() + timedelta(seconds=exc.retry_after))
                        break
                    continue
                self._delivered.append(([msg.id], note))
                if folded:
                    self._delivered.append((folded, f"汇总进 #{msg.id}"))
                await self._record_delivered(at_least=32)
                self.alerts.clear(msg.channel)
                delivered += 1 + len(folded)
        return delivered

    async def _put_back(self, msgs: list[Claimed], folded: list[int], at: datetime) -> None:
        async with self.db.write() as session:
            for m in msgs:
                await outbox.mark_retry(session, m.id, at, "等待限流窗口", count_attempt=False)
            for fid in folded:
                await outbox.mark_retry(session, fid, at, "等待限流窗口", count_attempt=False)

    async def _failed(self, msg: Claimed, folded: list[int], exc: SendError, key, limit, progress) -> None:
        now = self.clock()
        error = f"{exc.code}: {exc}" if exc.code is not None else str(exc)
        if exc.alert:
            await self.alerts.raise_(msg.channel, error)
        async with self.db.write() as session:
            if progress and not folded:
                await outbox.save_progress(session, msg.id, {**msg.payload, "_progress": progress})
            for fid in folded:  # folded messages go back as themselves; the digest is rebuilt next time
                await outbox.mark_retry(session, fid, now, "汇总消息发送失败，单独重试", count_attempt=False)
            if exc.permanent or msg.attempts >= self.max_attempts:
                await outbox.mark_dead(session, msg.id, error)
                log.warning("outbox #%s to %s:%s is dead: %s", msg.id, msg.channel, msg.destination, error)
                return
            if exc.retry_after:
                self.limiter.penalise(key, limit, now + timedelta(seconds=exc.retry_after))
                delay = exc.retry_after
            else:
                delay = backoff(msg.attempts, self._rng)
            await outbox.mark_retry(session, msg.id, now + timedelta(seconds=delay), error)

    async def run_forever(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        """Drain until `stop` is set; between passes sleep until woken (a commit queued something), stopped, or
        `idle` seconds pass. The wake flag is cleared before a pass, so a wake during the pass is not lost. A pass
        that did not fill its batch means nothing else is due; a woken worker waits `GATHER` first, so a burst
        of commits (a scan each) costs one claim, not one per message."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.run_once()
            except Exception:  # logged, not swallowed: the leased rows come back after the lease
                log.exception("outbox pass failed")
                self.last_claimed = 0
            if stop.is_set():
                continue
            if self.last_claimed >= self.batch or self.wake.is_set():  # more is due: go on, after GATHER
                await asyncio.sleep(GATHER)
                continue
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            try:
                await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
                await asyncio.gather(*waiters, return_exceptions=True)
            if self.wake.is_set() and not stop.is_set():
                await asyncio.sleep(GATHER)
