"""The outbox worker: claim due messages, fold bursts into digests, respect rate limits, retry for a window of time.

Nothing is dropped and nothing is marked sent that nobody received:
* a message that may not go yet (our rate limiter) is put back for when it may, without counting an attempt;
* a platform's rate error (45009, 130101 …) waits at least what the platform asks (60 s), as before;
* a transient failure (network, timeout, HTTP 5xx, "system busy") backs off exponentially with jitter up to
  `backoff_cap`, for up to `retry_window` after the message's first failed try; then it is dead with the reason,
  and the admins get one notice per burst (`DeadLetterNotices`). The rest of that destination waits with it, in
  order. While a channel fails, one of its messages is tried every `PROBE_EVERY` seconds ahead of its back-off
  (a half-open circuit breaker); when a send on it works again, its messages waiting out a back-off are pulled
  forward: an outage heals by itself within seconds, no resends;
* a permanent refusal, or a send that raises for the row's own content (ValueError/KeyError/TypeError … while
  rendering, e.g. a DingTalk `sessionWebhookExpiredTime` of "abc"), is dead at once with that reason, and the
  next message for the same destination goes on.

Each channel has its own lane (concurrency) and every send its own timeout, so a hung platform delays only
itself: passes do not wait for slow drains. A drain gives back what it has not sent before its rows' lease
could run out. Delivery is at-least-once at the platform boundary (a crash between the platform's 200 and our
commit could repeat one send); WeCom app messages and WeChat template messages carry the platform's own dedupe
keys.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orderbot.core import media, outbox
from orderbot.core.outbox import Claimed
from orderbot.db.engine import Database
from orderbot.messaging.senders.base import RateLimiter, Sender, SendError

log = logging.getLogger("orderbot.outbox")

RATE_WAIT = "等待限流窗口"
# What a send raises when the row's own content cannot be rendered or sent: retrying cannot help.
CONTENT_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError)
SEND_TIMEOUT = 30.0  # seconds of wall time one send (all its HTTP calls) may take
LEASE_BUDGET = outbox.LEASE.total_seconds() - SEND_TIMEOUT - 5  # a drain starts no send after this (wall s)
PROBE_EVERY = 15.0  # seconds between probes of a failing channel (one message tried ahead of its back-off)


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


class MissingImage(Exception):
    """A chart image the message refers to is no longer stored (expired, purged): it can never be sent."""


async def load_images(db: Database, payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The payload as senders read it: each chart stored by reference (`{"title", "media": id}`, see
    `core/outbox.py`) gets its image back inline; a payload without references is returned as it is (rows
    written before the images moved out of the outbox hold them inline). `MissingImage` when one is gone."""
    charts = payload.get("charts")
    if not isinstance(charts, list):
        return payload
    wanted = {c["media"] for c in charts if isinstance(c, dict) and "media" in c and "png" not in c}
    if not wanted:
        return payload
    images: dict[str, bytes] = {}
    async with db.read() as session:
        for media_id in sorted(wanted):
            found = await media.fetch(session, media_id, now)
            if found is not None:
                images[media_id] = found[0]
    loaded = []
    for chart in charts:
        if isinstance(chart, dict) and chart.get("media") in wanted:
            if chart["media"] not in images:
                raise MissingImage(
                    f"图表「{chart.get('title', '')}」的图片已不在（保存期已过或已被清除，media {chart['media']}），"
                    "消息无法发送，不再重试"
                )
            chart = {**chart, "png": base64.b64encode(images[chart["media"]]).decode()}
        loaded.append(chart)
    return {**payload, "charts": loaded}


def backoff(attempts: int, rng: random.Random, base: float = 5.0, cap: float = 600.0) -> float:
    """Exponential back-off with jitter: between half and all of min(cap, base·2^(n-1)) seconds."""
    ceiling = min(cap, base * 2 ** (max(1, min(attempts, 40)) - 1))
    return rng.uniform(ceiling / 2, ceiling)


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
            out[-1] = (
                Claimed(
                    head.id,
                    head.channel,
                    head.destination,
                    head.kind,
                    merged,
                    head.attempts,
                    head.created_at,
                    head.first_attempt_at,
                ),
                folded + [msg.id],
            )
        else:
            out.append((msg, []))
    for i, (msg, folded) in enumerate(out):
        if folded:
            payload = dict(msg.payload)
            count = payload.pop("digest_count")
            title = payload.get("title") or "通知"
            payload["title"] = f"{title}（汇总 {count} 条）"
            out[i] = (
                Claimed(
                    msg.id,
                    msg.channel,
                    msg.destination,
                    msg.kind,
                    payload,
                    msg.attempts,
                    msg.created_at,
                    msg.first_attempt_at,
                ),
                folded,
            )
    return out


@dataclass(frozen=True)
class Failed:
    dead: bool  # the message will not be tried again
    rest_waits: bool  # the destination's later messages wait with it


GATHER = 0.05  # seconds a woken worker waits, so the messages of many commits go out in one pass


class OutboxWorker:
    """`retry_window`: how long after its first failed try a message is retried; `backoff_cap`: the longest
    wait between tries (s); `send_timeout`: wall seconds one send may take; `concurrency`: sends at once per
    channel; `dead_letters`: told of every message that went dead (one notice to the admins per burst);
    `observe_send`: told how each send went and how long it took (the app's send-latency histogram)."""

    def __init__(
        self,
        db: Database,
        senders: dict[str, Sender],
        clock: Callable[[], datetime],
        *,
        retry_window: timedelta = timedelta(hours=24),
        backoff_cap: float = 600.0,
        send_timeout: float = SEND_TIMEOUT,
        batch: int = 200,
        concurrency: int = 16,
        seed: int | None = None,
        alerts: PlatformAlerts | None = None,
        dead_letters=None,
        observe_send: Callable[[str, str, float], None] | None = None,
    ):
        self.db, self.senders, self.clock = db, senders, clock
        self.retry_window, self.backoff_cap, self.send_timeout = retry_window, backoff_cap, send_timeout
        self.batch, self.concurrency = batch, concurrency
        self.limiter = RateLimiter()
        self.alerts = alerts or PlatformAlerts()
        self.dead_letters = dead_letters
        self.observe_send = observe_send  # (channel, "sent" | "retry" | "dead", seconds) after every send
        self._rng = random.Random(seed)
        self._lanes: dict[str, asyncio.Semaphore] = {}
        self._destinations: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        self._inflight: set[int] = set()  # ids a drain of this worker holds (claimed, not yet recorded)
        self._drains: set[asyncio.Task] = set()
        self._failing: set[str] = set()  # channels whose last send failed transiently
        self._probed: dict[str, datetime] = {}  # when a failing channel was last probed
        self.wake = asyncio.Event()
        self._delivered: list[tuple[list[int], str | None]] = []  # sent, not yet recorded
        self._record_lock = asyncio.Lock()
        self.last_claimed = 0  # rows the last pass claimed: a full batch means more may be due

    async def run_once(self) -> int:
        """Process what is due now and wait for it; returns the number of messages delivered (folded ones
        included)."""
        drains = await self._dispatch()
        try:
            results = await asyncio.gather(*drains) if drains else []
        finally:
            await self._record_delivered()
        await self.flush_dead_letters()
        return sum(results)

    async def _dispatch(self) -> list[asyncio.Task]:
        """Claim what is due and start a drain per destination in its channel's lane; do not wait for them.
        A failing channel is probed every `PROBE_EVERY` seconds: one message is tried ahead of its back-off."""
        now = self.clock()
        probes = [
            c for c in self._failing if c not in self._probed or (now - self._probed[c]).total_seconds() >= PROBE_EVERY
        ]
        async with self.db.write() as session:
            for channel in probes:
                self._probed[channel] = now
                await outbox.probe(session, channel, now)
            claimed = await outbox.claim_due(session, now, self.batch)
            again = [m.id for m in claimed if m.id in self._inflight]
            if again:  # our own drain still holds them (its lease ran out on the clock): it records the outcome
                await outbox.uncount(session, again)
        self.last_claimed = len(claimed)
        groups: dict[tuple[str, str], list[Claimed]] = {}
        unroutable: dict[str, list[Claimed]] = {}
        for msg in claimed:
            if msg.id in self._inflight:
                continue
            if msg.channel in self.senders:
                groups.setdefault((msg.channel, msg.destination), []).append(msg)
            else:
                unroutable.setdefault(msg.channel, []).append(msg)
        if unroutable:  # one transaction for all of them, not one per destination
            async with self.db.write() as session:
                for channel, msgs in unroutable.items():
                    reason = f"没有配置渠道 {channel}"
                    await outbox.mark_dead(session, [m.id for m in msgs], reason)
                    for m in msgs:
                        self._note_dead(m, reason)
        drains = []
        for key, msgs in groups.items():
            self._inflight.update(m.id for m in msgs)
            task = asyncio.ensure_future(self._drain(key, msgs, time.monotonic()))
            self._drains.add(task)
            task.add_done_callback(self._drains.discard)
            drains.append(task)
        return drains

    def _lane(self, channel: str) -> asyncio.Semaphore:
        lane = self._lanes.get(channel)
        if lane is None:
            lane = self._lanes[channel] = asyncio.Semaphore(self.concurrency)
        return lane

    async def _drain(self, key: tuple[str, str], messages: list[Claimed], claimed_at: float) -> int:
        """Send one destination's messages in order; one drain per destination at a time (a later pass's drain
        for it waits), in its channel's lane."""
        lock, users = self._destinations.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._destinations[key] = (lock, users + 1)
        try:
            async with lock, self._lane(key[0]):
                return await self._send_all(key, messages, claimed_at)
        finally:
            lock_now, users = self._destinations[key]
            if users <= 1:
                del self._destinations[key]
            else:
                self._destinations[key] = (lock_now, users - 1)
            try:
                await self._record_delivered()
            finally:
                self._inflight.difference_update(m.id for m in messages)

    async def _send_all(self, key: tuple[str, str], messages: list[Claimed], claimed_at: float) -> int:
        sender = self.senders[key[0]]
        delivered = 0
        items = fold(messages)
        for index, (msg, folded) in enumerate(items):
            rest = items[index:]
            if time.monotonic() - claimed_at > LEASE_BUDGET:  # the lease would run out mid-send: give back
                await self._put_back(rest, self.clock(), "租约将到期，稍后继续")
                break
            limit = sender.limit_for(msg.destination)
            now = self.clock()
            wait_until = self.limiter.next_free(key, limit, now)
            if wait_until is not None:
                # Keep order: this and everything after it to the same destination waits its turn.
                await self._put_back(rest, wait_until, RATE_WAIT)
                break
            progress = dict(msg.payload.get("_progress", {}))
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.send_timeout):
                    payload = await load_images(self.db, msg.payload, now)  # the row keeps its references
                    note = await sender.send(msg.destination, msg.kind, payload, progress)
            except SendError as exc:
                failure = exc
            except TimeoutError:
                failure = SendError(f"发送超时：{self.send_timeout:g} 秒内平台没有响应")
            except MissingImage as exc:  # the image is gone for good: dead with the reason
                self._observe(msg.channel, "dead", started)
                await self._dead(msg, folded, str(exc))
                continue
            except CONTENT_ERRORS as exc:  # the row itself is malformed: retrying cannot help
                self._observe(msg.channel, "dead", started)
                await self._dead(msg, folded, f"消息内容无法发送（{type(exc).__name__}: {exc}），不再重试")
                continue
            except Exception as exc:  # not the row's fault as far as we know: retry with back-off, loudly
                log.exception("outbox #%s to %s:%s: unexpected error", msg.id, msg.channel, msg.destination)
                failure = SendError(f"发送出错：{type(exc).__name__}: {exc}")
            else:
                self._observe(msg.channel, "sent", started)
                self.limiter.record(key, now)  # what the platform accepted counts against its limit
                self._delivered.append(([msg.id], note))
                if folded:
                    self._delivered.append((folded, f"汇总进 #{msg.id}"))
                await self._record_delivered(at_least=32)
                self.alerts.clear(msg.channel)
                delivered += 1 + len(folded)
                if msg.first_attempt_at is not None or msg.channel in self._failing:
                    await self._healed(msg.channel)
                continue
            took = time.perf_counter() - started  # the send, not the bookkeeping after it
            outcome = await self._failed(msg, folded, failure, key, limit, progress, items[index + 1 :])
            self._observe(msg.channel, "dead" if outcome.dead else "retry", started, took)
            if outcome.rest_waits:
                break
        return delivered

    async def _healed(self, channel: str) -> None:
        """A send on a channel that was failing went through: what waits out a back-off there is due now."""
        self._failing.discard(channel)
        async with self.db.write() as session:
            pulled = await outbox.pull_forward(session, channel, self.clock())
        if pulled:
            log.info("channel %s works again: %d waiting messages are due now", channel, pulled)
            self.wake.set()

    async def _put_back(self, items: list[tuple[Claimed, list[int]]], at: datetime, reason: str) -> None:
        async with self.db.write() as session:
            await outbox.mark_retry_many(session, [i for m, folded in items for i in [m.id, *folded]], at, reason)

    def _observe(self, channel: str, outcome: str, started: float, took: float | None = None) -> None:
        """Feed the send-latency histogram (`observe_send`: the app passes its metrics'), never failing a send.
        `took`: the send's seconds when measured before now."""
        if self.observe_send is not None:
            try:
                self.observe_send(channel, outcome, time.perf_counter() - started if took is None else took)
            except Exception:
                log.exception("could not record a send in the metrics")

    async def _dead(self, msg: Claimed, folded: list[int], error: str) -> None:
        """The message can never be sent (its content, or an image it refers to): dead with `error`; messages
        folded into it go back as themselves."""
        log.warning("outbox #%s to %s:%s is dead: %s", msg.id, msg.channel, msg.destination, error)
        async with self.db.write() as session:
            for fid in folded:  # folded messages go back as themselves
                await outbox.mark_retry(session, fid, self.clock(), "汇总消息发送失败，单独重试", count_attempt=False)
            await outbox.mark_dead(session, msg.id, error)
        self._note_dead(msg, error)

    def _window_over(self, first: datetime | None, now: datetime) -> bool:
        return first is not None and now - first >= self.retry_window

    async def _failed(
        self,
        msg: Claimed,
        folded: list[int],
        exc: SendError,
        key,
        limit,
        progress,
        rest: list[tuple[Claimed, list[int]]],
    ) -> Failed:
        """Record a failed send: whether the message is now dead, and whether the rest of this destination must
        wait too (it goes back with it)."""
        now = self.clock()
        error = f"{exc.code}: {exc}" if exc.code is not None else str(exc)
        if exc.alert:
            await self.alerts.raise_(msg.channel, error)
        rate = bool(exc.retry_after)
        transient = not exc.permanent and not rate
        if transient:
            self._failing.add(msg.channel)
        dead: list[tuple[Claimed, str]] = []
        async with self.db.write() as session:
            if progress and not folded:
                await outbox.save_progress(session, msg.id, {**msg.payload, "_progress": progress})
            first = msg.first_attempt_at or now
            if exc.permanent:
                dead.append((msg, error))
            elif transient and self._window_over(first, now):
                dead.append((msg, f"{error}（自首次发送起 {_hours(self.retry_window)} 内重试均未成功）"))
            if dead:
                await outbox.mark_dead(session, msg.id, dead[0][1])
                log.warning("outbox #%s to %s:%s is dead: %s", msg.id, msg.channel, msg.destination, dead[0][1])
            if rate:
                self.limiter.penalise(key, limit, now + timedelta(seconds=exc.retry_after))
                delay = exc.retry_after
            else:
                delay = backoff(msg.attempts, self._rng, cap=self.backoff_cap)
            at = now + timedelta(seconds=delay)
            for fid in folded:  # folded messages go back as themselves (the digest is rebuilt), in their turn
                await outbox.mark_retry(
                    session, fid, now if exc.permanent else at, "汇总消息发送失败，单独重试", count_attempt=False
                )
            if not dead:
                await outbox.mark_retry(session, msg.id, at, error, failed_at=None if rate else now)
            gone = bool(dead)
            if exc.permanent:
                return Failed(dead=gone, rest_waits=False)
            # Rate error or outage: the rest of this destination waits as long, in order (one probe per
            # destination, not one per message).
            waiting: list[int] = []
            folded_rest: list[int] = []
            for m, mfolded in rest:
                if transient and self._window_over(m.first_attempt_at, now):
                    reason = f"{error}（自首次发送起 {_hours(self.retry_window)} 内重试均未成功）"
                    await outbox.mark_dead(session, m.id, reason)
                    dead.append((m, reason))
                else:
                    waiting.append(m.id)
                folded_rest += mfolded
            await outbox.mark_retry_many(session, waiting, at, error, failed_at=None if rate else now)
            await outbox.mark_retry_many(session, folded_rest, at, error)
        for m, reason in dead:
            self._note_dead(m, reason)
        return Failed(dead=gone, rest_waits=True)

    def _note_dead(self, msg: Claimed, reason: str) -> None:
        if self.dead_letters is not None and msg.kind != "admin_notice":  # never a notice about a notice
            self.dead_letters.note(msg.channel, msg.destination, reason)

    async def flush_dead_letters(self) -> None:
        if self.dead_letters is not None:
            try:
                await self.dead_letters.flush()
            except Exception:  # the dead rows are recorded; the notice is retried at the next flush
                log.exception("could not queue the dead-letter notice")

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

    async def run_forever(self, stop: asyncio.Event, idle: float = 0.5) -> None:
        """Drain until `stop` is set; between passes sleep until woken (a commit queued something), stopped, or
        `idle` seconds pass. A pass starts drains and does not wait for them, so a hung channel holds up only
        its own lane. The wake flag is cleared before a pass, so a wake during the pass is not lost. A pass
        that did not fill its batch means nothing else is due; a woken worker waits `GATHER` first, so a burst
        of commits (a scan each) costs one claim, not one per message. At stop, the drains in flight finish."""
        cancelled = False
        try:
            while not stop.is_set():
                self.wake.clear()
                try:
                    await self._dispatch()
                    await self.flush_dead_letters()
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
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            drains = list(self._drains)
            if cancelled:  # a hard stop: sends in flight are abandoned, their rows come back after the lease
                for drain in drains:
                    drain.cancel()
            if drains:
                await asyncio.gather(*drains, return_exceptions=True)
            if not cancelled:
                await self._record_delivered()
                await self.flush_dead_letters()


def _hours(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return f"{hours:g} 小时" if hours >= 1 else f"{window.total_seconds() / 60:g} 分钟"
