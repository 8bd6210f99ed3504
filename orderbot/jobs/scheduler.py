"""The job scheduler: APScheduler 3 (AsyncIOScheduler) plus a lease in the database, so that with several servers
on one PostgreSQL exactly one of them runs the jobs.

Every instance schedules every job; a run first checks that this instance holds the lease and is otherwise
skipped (counted, logged at DEBUG). The lease is a row of `job_leases`, taken and renewed in one conditional
UPDATE (never read-modify-write), every ttl/3; an instance that is not the leader retries right after the
holder's lease would run out, so when the leader dies without releasing, another takes over within the ttl
(30 s by default). A clean shutdown waits for running jobs and releases the lease at once.

Daily jobs (the 09:00 report, the courier batches) also claim their firing slot (`fire:<job>:<local time>`, a
row of the same table) before running, so a slot runs at most once across all servers and restarts; when an
instance becomes the leader it runs the daily slots that fell due in the last half hour and nobody claimed
(the leader died at 08:59:50, the new one takes over at 09:00:20, the report still goes out).

Jobs are `async def job(now: datetime)`: `now` comes from the `clock` given to the scheduler (a `ManualClock` in
the demo and tests), while APScheduler itself triggers on real time and the lease uses real time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import case, delete, literal, or_, select, update

from orderbot.core.clock import Clock, system_clock
from orderbot.core.models import JobLease
from orderbot.core.sqlutil import insert_ignore
from orderbot.db.engine import Database

log = logging.getLogger("orderbot.scheduler")
# APScheduler logs "Running job …" on every instance, followers included; our own lines say more (outcome,
# duration), so its chatter goes to a quiet child logger and only its warnings (missed runs) show.
_APS_LOG = logging.getLogger("orderbot.scheduler.apscheduler")
_APS_LOG.setLevel(logging.WARNING)
_EXECUTOR = "orderbot"
logging.getLogger(f"apscheduler.executors.{_EXECUTOR}").setLevel(logging.WARNING)

DAILY_GRACE = timedelta(minutes=30)  # a daily job may still run this late (misfire grace, catch-up window)
SLOT_KEEP = timedelta(days=7)  # how long a claimed daily slot is remembered
_TABLE = JobLease.__table__

JobFunc = Callable[[datetime], Awaitable[object]]


@dataclass(frozen=True)
class Interval:
    """Every `seconds` (real time), the first run one interval after start."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds <= 0:
            raise ValueError("an interval must be positive")


@dataclass(frozen=True)
class Daily:
    """Every day at each local HH:MM of `times`, in the scheduler's timezone."""

    times: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.times:
            raise ValueError("a daily trigger needs at least one HH:MM")
        for t in self.times:
            _hhmm(t)


def every(*, minutes: float = 0, seconds: float = 0) -> Interval:
    return Interval(minutes * 60 + seconds)


def daily(*times: str) -> Daily:
    return Daily(tuple(times))


@dataclass(frozen=True)
class JobSpec:
    """One job: a unique name (at most 40 characters), when it runs, and `async def func(now)`; what func
    returns (a count, a short text) is logged with the run."""

    name: str
    trigger: Interval | Daily
    func: JobFunc


@dataclass(frozen=True)
class JobRun:
    name: str
    started: datetime  # real time
    duration: float  # seconds
    outcome: str  # ok failed cancelled
    result: object = None
    error: str | None = None


def _hhmm(value: str) -> tuple[int, int]:
    hh, sep, mm = value.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and 0 <= int(hh) < 24 and 0 <= int(mm) < 60):
        raise ValueError(f"'{value}' is not a time of day as HH:MM")
    return int(hh), int(mm)


def latest_slot(trigger: Daily, zone: ZoneInfo, now: datetime) -> datetime:
    """The most recent local firing time of a daily trigger at or before `now` (aware, in `zone`)."""
    local = now.astimezone(zone)
    best = None
    for t in trigger.times:
        hh, mm = _hhmm(t)
        for back in (0, 1):
            day = local.date() - timedelta(days=back)
            slot = datetime(day.year, day.month, day.day, hh, mm, tzinfo=zone)
            if slot <= local:
                best = slot if best is None or slot > best else best
                break
    assert best is not None
    return best


def default_holder() -> str:
    """host:pid:random, unique per scheduler instance (two in one process in tests)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(3)}"


class Lease:
    """A named lease in `job_leases`: acquire-or-renew is one atomic statement, so two servers never both win.

    `acquire()` inserts the row if it is missing (INSERT … ON CONFLICT DO NOTHING), else takes it with
    `UPDATE … WHERE name = :n AND (holder = :me OR expires_at <= :now)` and checks the row count. `held` is the
    local view: true until the expiry this instance wrote, measured on its own clock, so a holder that cannot
    renew (database down, event loop stalled) stops counting itself the leader when others may take over.
    Servers' clocks must agree to well within the ttl (NTP).
    """

    def __init__(
        self,
        db: Database,
        name: str = "scheduler",
        *,
        holder: str | None = None,
        ttl: float = 30.0,
        clock: Clock = system_clock,
    ):
        if ttl <= 0:
            raise ValueError("the lease ttl must be positive")
        self.db, self.name, self.holder, self.clock = db, name, holder or default_holder(), clock
        self.ttl = timedelta(seconds=ttl)
        self.expires_at: datetime | None = None  # ours, while we hold it
        self.other: tuple[str, datetime] | None = None  # (holder, expires_at) seen when we lost

    @property
    def held(self) -> bool:
        return self.expires_at is not None and self.clock() < self.expires_at

    async def acquire(self) -> bool:
        """Take the lease if it is free or expired, or renew it if it is ours; True if we hold it now."""
        now = self.clock()
        expires = now + self.ttl
        async with self.db.write() as s:
            inserted = await s.execute(
                insert_ignore(
                    s,
                    _TABLE,
                    [{"name": self.name, "holder": self.holder, "acquired_at": now, "expires_at": expires}],
                    ["name"],
                )
            )
            won = inserted.rowcount == 1
            if not won:
                c = _TABLE.c
                taken = await s.execute(
                    update(_TABLE)
                    .where(c.name == self.name, or_(c.holder == self.holder, c.expires_at <= now))
                    .values(
                        holder=self.holder,
                        expires_at=expires,
                        acquired_at=case(
                            (c.holder == self.holder, c.acquired_at), else_=literal(now, c.acquired_at.type)
                        ),
                    )
                )
                won = taken.rowcount == 1
            if not won:
                row = (
                    await s.execute(select(_TABLE.c.holder, _TABLE.c.expires_at).where(_TABLE.c.name == self.name))
                ).one_or_none()
                self.other = (row.holder, row.expires_at) if row is not None else None
        if won:
            self.expires_at, self.other = expires, None
        else:
            self.expires_at = None
        return won

    async def release(self) -> bool:
        """Give the lease up (clean shutdown): it expires now, so another instance takes it on its next try."""
        self.expires_at = None
        async with self.db.write() as s:
            result = await s.execute(
                update(_TABLE)
                .where(_TABLE.c.name == self.name, _TABLE.c.holder == self.holder)
                .values(expires_at=self.clock())
            )
        return result.rowcount == 1

    async def current(self) -> tuple[str, datetime] | None:
        """(holder, expires_at) as stored, for status pages and tests."""
        async with self.db.read() as s:
            row = (
                await s.execute(select(_TABLE.c.holder, _TABLE.c.expires_at).where(_TABLE.c.name == self.name))
            ).one_or_none()
        return (row.holder, row.expires_at) if row is not None else None

    async def claim_slot(self, job: str, slot: datetime) -> bool:
        """Claim one firing of a daily job (at most once across servers); False if it was claimed before.
        Slots older than `SLOT_KEEP` are forgotten in the same transaction."""
        now = self.clock()
        key = f"fire:{job}:{slot:%Y-%m-%dT%H:%M}"
        async with self.db.write() as s:
            await s.execute(delete(_TABLE).where(_TABLE.c.name.like(f"fire:{job}:%"), _TABLE.c.expires_at < now))
            result = await s.execute(
                insert_ignore(
                    s,
                    _TABLE,
                    [{"name": key, "holder": self.holder, "acquired_at": now, "expires_at": slot + SLOT_KEEP}],
                    ["name"],
                )
            )
        return result.rowcount == 1


class Scheduler:
    """The jobs of one server: scheduled on every instance, run only by the lease holder.

    `start()` / `stop()` from the app's cleanup context (see `attach`); `run_now(name)` runs a job at once,
    leader or not (tests, CLI). Every run is logged at INFO (name, start, duration, outcome) and counted in
    `counts[(name, outcome)]`; a failing job logs its exception and the scheduler carries on.
    """

    def __init__(
        self,
        db: Database,
        specs: Iterable[JobSpec],
        *,
        clock: Clock = system_clock,
        timezone: str = "Asia/Shanghai",
        lease_seconds: float = 30.0,
        lease_name: str = "scheduler",
        holder: str | None = None,
        lease_clock: Clock = system_clock,
        stop_timeout: float = 10.0,
    ):
        self.specs: dict[str, JobSpec] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"two jobs are named {spec.name!r}")
            if len(spec.name) > 40:
                raise ValueError(f"job name {spec.name!r} is longer than 40 characters")
            self.specs[spec.name] = spec
        self.db, self.clock, self.zone = db, clock, ZoneInfo(timezone)
        self.lease = Lease(db, lease_name, holder=holder, ttl=lease_seconds, clock=lease_clock)
        self.stop_timeout = stop_timeout
        self.counts: Counter[tuple[str, str]] = Counter()
        self.last: dict[str, JobRun] = {}
        self._locks = {name: asyncio.Lock() for name in self.specs}
        self._inflight: set[asyncio.Task] = set()  # job bodies
        self._firing: set[asyncio.Task] = set()  # APScheduler's runs
        self._aux: set[asyncio.Task] = set()
        self._aps = None
        self._lease_task: asyncio.Task | None = None
        self._leader = False
        self._stopping = False

    @property
    def holder(self) -> str:
        return self.lease.holder

    @property
    def is_leader(self) -> bool:
        return not self._stopping and self.lease.held

    # -- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        from apscheduler.executors.asyncio import AsyncIOExecutor
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.combining import OrTrigger
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self._aps is not None:
            raise RuntimeError("the scheduler is already started")
        self._stopping = False
        aps = AsyncIOScheduler(timezone=self.zone, logger=_APS_LOG)
        aps.add_executor(AsyncIOExecutor(), alias=_EXECUTOR)
        for spec in self.specs.values():
            if isinstance(spec.trigger, Interval):
                trigger = IntervalTrigger(seconds=spec.trigger.seconds, timezone=self.zone)
                grace = max(1, int(min(spec.trigger.seconds, 300)))
            else:
                crons = [
                    CronTrigger(hour=h, minute=m, timezone=self.zone) for h, m in (_hhmm(t) for t in spec.trigger.times)
                ]
                trigger = crons[0] if len(crons) == 1 else OrTrigger(crons)
                grace = int(DAILY_GRACE.total_seconds())
            aps.add_job(
                self._fire,
                trigger,
                args=[spec.name],
                id=spec.name,
                name=spec.name,
                executor=_EXECUTOR,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=grace,
            )
        aps.start()
        self._aps = aps
        log.info(
            "scheduler started as %s with %d job(s): %s", self.holder, len(self.specs), ", ".join(self.specs) or "none"
        )
        await self._tick()
        self._lease_task = asyncio.create_task(self._lease_loop(), name="scheduler-lease")

    async def stop(self, *, release: bool = True, timeout: float | None = None) -> None:
        """Stop scheduling; wait up to `timeout` (default `stop_timeout`) for running jobs, cancel the rest;
        release the lease. `stop(release=False, timeout=0)` is what a crash looks like to the other servers."""
        self._stopping = True
        timeout = self.stop_timeout if timeout is None else timeout
        for task in (self._lease_task, *self._aux):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._lease_task, *self._aux) if t is not None), return_exceptions=True)
        self._lease_task = None
        running = self._inflight | self._firing  # the jobs, and APScheduler's runs waiting on them
        if running:
            pending = set(running)
            if timeout > 0:
                _, pending = await asyncio.wait(pending, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        if self._aps is not None:
            if self._aps.running:
                self._aps.shutdown(wait=False)
            self._aps = None
            await asyncio.sleep(0)  # its shutdown runs on the next loop pass
        if release and self.lease.expires_at is not None:
            try:
                await self.lease.release()
                log.info("scheduler %s stopped and released the lease", self.holder)
            except Exception:
                log.exception("releasing the scheduler lease failed; it expires by itself")
        self._leader = False

    # -- the lease ---------------------------------------------------------------------------------------------

    async def _tick(self) -> None:
        try:
            held = await self.lease.acquire()
        except Exception:
            log.exception("scheduler lease renewal failed")
            held = self.lease.held  # keep leading until our own expiry, no longer
        if held and not self._leader:
            self._leader = True
            self.counts[("lease", "acquired")] += 1
            log.info(
                "scheduler %s is now the leader (lease %r, %.0f s)",
                self.holder,
                self.lease.name,
                self.lease.ttl.total_seconds(),
            )
            self._spawn(self._catch_up())
        elif not held and self._leader:
            self._leader = False
            self.counts[("lease", "lost")] += 1
            log.warning(
                "scheduler %s lost the lease to %s",
                self.holder,
                self.lease.other[0] if self.lease.other else "nobody (renewal failed)",
            )

    def _delay(self) -> float:
        third = self.lease.ttl.total_seconds() / 3
        if self.lease.held or self.lease.other is None:
            return third
        left = (self.lease.other[1] - self.lease.clock()).total_seconds()
        return min(third, max(0.05, left + 0.05))  # try again right after the holder's lease runs out

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(self._delay())
            await self._tick()

    async def _catch_up(self) -> None:
        """On becoming the leader: run daily slots that fell due within `DAILY_GRACE` and nobody claimed."""
        now = self.lease.clock()
        for spec in self.specs.values():
            if not isinstance(spec.trigger, Daily):
                continue
            slot = latest_slot(spec.trigger, self.zone, now)
            if now - slot > DAILY_GRACE or not self.is_leader:
                continue
            try:
                claimed = await self.lease.claim_slot(spec.name, slot)
            except Exception:
                log.exception("claiming %s at %s failed", spec.name, slot)
                continue
            if claimed:
                log.info("job %s: catching up the run due at %s", spec.name, slot.isoformat())
                await self._run(spec)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._aux.add(task)
        task.add_done_callback(self._aux.discard)

    # -- runs --------------------------------------------------------------------------------------------------

    async def _fire(self, name: str) -> None:
        """What APScheduler calls (tracked, so `stop()` can wait for it)."""
        task = asyncio.current_task()
        self._firing.add(task)
        try:
            await self._fire_once(name)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # stop() cancelled this run: finish quietly, APScheduler would log it as the job's own exception
        finally:
            self._firing.discard(task)

    async def _fire_once(self, name: str) -> None:
        """Leaders only; daily jobs claim their slot first."""
        spec = self.specs[name]
        if not self.is_leader:
            self.counts[(name, "skipped")] += 1
            log.debug("job %s skipped: %s is not the leader", name, self.holder)
            return
        if isinstance(spec.trigger, Daily):
            slot = latest_slot(spec.trigger, self.zone, self.lease.clock())
            try:
                claimed = await self.lease.claim_slot(name, slot)
            except Exception:
                log.exception("job %s: claiming the slot %s failed; not run", name, slot.isoformat())
                self.counts[(name, "failed")] += 1
                return
            if not claimed:
                self.counts[(name, "skipped")] += 1
                log.info("job %s: the run due at %s has already been done", name, slot.isoformat())
                return
        await self._run(spec)

    async def run_now(self, name: str) -> JobRun:
        """Run a job now on this instance, leader or not, and return how it went (it never raises for the job's
        own failure: see `.outcome` and `.error`)."""
        if name not in self.specs:
            raise KeyError(f"no job named {name!r}; jobs: {', '.join(self.specs)}")
        return await self._run(self.specs[name])

    async def _run(self, spec: JobSpec) -> JobRun:
        async with self._locks[spec.name]:  # one run of a job at a time on this instance
            task = asyncio.create_task(self._execute(spec), name=f"job-{spec.name}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            try:
                return await asyncio.shield(task)  # a cancelled caller does not cut a job short; stop() decides
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
                return self.last[spec.name]  # the job itself was cancelled by stop()

    async def _execute(self, spec: JobSpec) -> JobRun:
        started, t0 = datetime.now(UTC), time.perf_counter()
        now = self.clock()
        log.debug("job %s starting (now=%s)", spec.name, now.isoformat())
        try:
            result = await spec.func(now)
        except asyncio.CancelledError:
            run = self._record(JobRun(spec.name, started, time.perf_counter() - t0, "cancelled"))
            log.warning(
                "job %s cancelled after %.3f s (started %s)",
                spec.name,
                run.duration,
                started.isoformat(timespec="seconds"),
            )
            raise
        except Exception as exc:
            run = self._record(
                JobRun(spec.name, started, time.perf_counter() - t0, "failed", error=f"{type(exc).__name__}: {exc}")
            )
            log.exception(
                "job %s failed after %.3f s (started %s)",
                spec.name,
                run.duration,
                started.isoformat(timespec="seconds"),
            )
            return run
        run = self._record(JobRun(spec.name, started, time.perf_counter() - t0, "ok", result=result))
        summary = "" if result is None else f": {str(result)[:200]}"  # a rules run returns thousands of outcomes
        (log.debug if spec.name == "outbox" else log.info)(
            "job %s ok in %.3f s (started %s)%s",
            spec.name,
            run.duration,
            started.isoformat(timespec="seconds"),
            summary,
        )
        return run

    def _record(self, run: JobRun) -> JobRun:
        self.counts[(run.name, run.outcome)] += 1
        self.last[run.name] = run
        return run

    def status(self) -> dict:
        """For /healthz or a status command: who we are, whether we lead, and per-job counts and last run."""
        jobs = {}
        for name in self.specs:
            last = self.last.get(name)
            jobs[name] = {
                "ok": self.counts[(name, "ok")],
                "failed": self.counts[(name, "failed")],
                "skipped": self.counts[(name, "skipped")],
                "last": None
                if last is None
                else {
                    "started": last.started.isoformat(),
                    "duration": round(last.duration, 3),
                    "outcome": last.outcome,
                    "error": last.error,
                },
            }
        return {"holder": self.holder, "leader": self.is_leader, "jobs": jobs}


def attach(
    app,
    specs: Iterable[JobSpec],
    *,
    db: Database | None = None,
    config=None,
    clock: Clock | None = None,
    holder: str | None = None,
) -> Scheduler | None:
    """Run `specs` in the aiohttp app: started after the resources registered before this call (the cleanup
    contexts run in order), stopped — running jobs awaited, lease released — before them. Returns the scheduler
    (also stored as `app[SCHEDULER]`), or None when `[scheduler] enabled = false`. Call it while building the
    app, after `app.cleanup_ctx.append(_resources)`. Database, config and clock default to the app's."""
    from orderbot.webhooks.common import CLOCK, CONFIG, DB

    config = config if config is not None else app[CONFIG]
    if not config.scheduler.enabled:
        log.info("scheduler disabled in the business config")
        return None
    scheduler = Scheduler(
        db if db is not None else app[DB],
        specs,
        clock=clock or app[CLOCK],
        timezone=config.timezone,
        lease_seconds=config.scheduler.lease_seconds,
        holder=holder,
    )
    app[SCHEDULER] = scheduler

    async def _scheduler_ctx(_app):
        await scheduler.start()
        yield
        await scheduler.stop()

    app.cleanup_ctx.append(_scheduler_ctx)
    return scheduler


SCHEDULER = web.AppKey("scheduler", Scheduler)
