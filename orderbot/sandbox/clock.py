"""The demo's clock: the wall clock plus an offset that the sandbox page moves forward.

`orderbot demo` hands an `OffsetClock` to `create_app(clock=…)`, so the dispatcher, the pipeline, the rules, the
outbox and the scheduler's jobs all read the same shifted "now". Time only moves forward (a business record
written "tomorrow" must never end up in the future again). The offset is kept in a small JSON file beside the
demo database, so a restarted demo carries on at the time it had reached.

`due_jobs` says which scheduler jobs a jump has skipped over: the daily jobs whose local firing time lies in the
jumped interval, and the interval jobs whose period fits in it (`rules` always runs: a jump is a change).
`step_jobs` is what one step of a longer jump runs: the rules look at the whole state each time, so within a
jump they run before each daily job, at least every `RULES_EVERY` of demo time and at the end, not every step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orderbot.core.clock import Clock, system_clock
from orderbot.jobs.scheduler import Daily, Interval, JobSpec, latest_slot

log = logging.getLogger("orderbot.demo")
MAX_JUMP = timedelta(days=7)  # one click at most; keeps the jobs a jump sets off to a sensible number
RULES_EVERY = timedelta(hours=6)  # within a jump the rules run at least this often (and before each daily job)


class OffsetClock:
    """`clock()` = `wall()` + `offset`; `advance` and `jump_to` move it forward and save the offset."""

    def __init__(self, offset: timedelta = timedelta(0), *, state: Path | None = None, wall: Clock = system_clock):
        self.wall, self.state, self.offset = wall, state, offset
        if state is not None and state.exists():
            self.offset = _load(state)

    def __call__(self) -> datetime:
        return self.wall() + self.offset

    def advance(self, delta: timedelta) -> tuple[datetime, datetime]:
        """Move forward by `delta` (positive, at most `MAX_JUMP`); (before, after)."""
        if delta <= timedelta(0):
            raise ValueError("时间只能往前快进")
        if delta > MAX_JUMP:
            raise ValueError(f"一次最多快进 {MAX_JUMP.days} 天")
        before = self()
        self.offset += delta
        self._save()
        return before, before + delta

    def jump_to(self, when: datetime) -> tuple[datetime, datetime]:
        if when.tzinfo is None:
            raise ValueError("jump_to needs an aware datetime")
        return self.advance(when - self())

    def _save(self) -> None:
        if self.state is None:
            return
        try:
            self.state.write_text(json.dumps({"offset_seconds": self.offset.total_seconds()}), encoding="utf-8")
        except OSError as exc:  # the demo goes on; only a restart would forget the offset
            log.warning("cannot save the demo clock to %s: %s", self.state, exc)


def clock_file(db_path: Path) -> Path:
    """Where the demo keeps its clock for the SQLite file `db_path` (`orderbot-demo.db.clock.json`)."""
    return db_path.with_name(db_path.name + ".clock.json")


def _load(path: Path) -> timedelta:
    try:
        seconds = float(json.loads(path.read_text(encoding="utf-8"))["offset_seconds"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the demo clock file %s: %s", path, exc)
        return timedelta(0)
    return timedelta(seconds=max(0.0, seconds))


def next_local(now: datetime, zone: ZoneInfo, hhmm: Iterable[str]) -> datetime:
    """The first of the local times of day `hhmm` strictly after `now` (today or tomorrow)."""
    local = now.astimezone(zone)
    best = None
    for t in hhmm:
        hh, mm = (int(x) for x in t.split(":"))
        for day in (local.date(), local.date() + timedelta(days=1)):
            at = datetime.combine(day, time(hh, mm), tzinfo=zone)
            if at > local:
                best = at if best is None or at < best else best
                break
    if best is None:
        raise ValueError("no time of day given")
    return best


def due_jobs(specs: Iterable[JobSpec], zone: ZoneInfo, before: datetime, after: datetime) -> list[str]:
    """The jobs a jump from `before` to `after` skipped, in the order they would have fired (rules first)."""
    out: list[tuple[datetime, str]] = []
    for spec in specs:
        if isinstance(spec.trigger, Daily):
            slot = latest_slot(spec.trigger, zone, after)
            if slot > before:
                out.append((slot, spec.name))
        elif isinstance(spec.trigger, Interval):
            if spec.name == "rules" or after - before >= timedelta(seconds=spec.trigger.seconds):
                out.append((before if spec.name == "rules" else after, spec.name))
    return [name for _, name in sorted(out, key=lambda x: x[0])]


def step_jobs(
    specs: Iterable[JobSpec], zone: ZoneInfo, before: datetime, after: datetime, *, rules_at: datetime, last: bool
) -> list[str]:
    """`due_jobs` for one step of a jump whose rules last ran at `rules_at`; `last` for the jump's final step.

    An alert condition lasts hours (a 72-hour window, documents four hours late, a parcel held for days), so an
    evaluation every `RULES_EVERY` of demo time sees the same ones as one every step; the daily jobs still find
    the alerts as fresh as their own time, and the jump ends with an evaluation of what it left."""
    specs = list(specs)
    names = due_jobs(specs, zone, before, after)
    daily = {s.name for s in specs if isinstance(s.trigger, Daily)}
    if "rules" in names and not (last or daily & set(names) or after - rules_at >= RULES_EVERY):
        names.remove("rules")
    return names
