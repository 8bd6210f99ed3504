"""The packers' monthly figures for the performance sheet (直连绩效考核表): per packer and per day, scans,
failures, accuracy and proactive corrections, against the seed's targets (accuracy 87% industry benchmark,
at least 5 corrections a working day)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Staff
from orderbot.core.warehouse.scanning import packer_figures

INDUSTRY_ACCURACY = 0.87
CORRECTIONS_PER_DAY = 5


@dataclass
class PackerDay:
    day: date
    scans: int
    failed: int
    corrections: int

    @property
    def accuracy(self) -> float | None:
        return (self.scans - self.failed) / self.scans if self.scans else None


@dataclass
class PackerMonth:
    staff_id: str
    name: str
    days: list[PackerDay] = field(default_factory=list)

    @property
    def scans(self) -> int:
        return sum(d.scans for d in self.days)

    @property
    def failed(self) -> int:
        return sum(d.failed for d in self.days)

    @property
    def corrections(self) -> int:
        return sum(d.corrections for d in self.days)

    @property
    def worked_days(self) -> int:
        return sum(1 for d in self.days if d.scans)

    @property
    def accuracy(self) -> float | None:
        return (self.scans - self.failed) / self.scans if self.scans else None

    @property
    def corrections_target(self) -> int:
        return CORRECTIONS_PER_DAY * self.worked_days

    @property
    def meets(self) -> bool:
        return (self.accuracy or 0) >= INDUSTRY_ACCURACY and self.corrections >= self.corrections_target


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    return first, nxt - timedelta(days=1)


async def monthly_figures(session: AsyncSession, first: date, last: date, zone: ZoneInfo) -> list[PackerMonth]:
    """Every packer who scanned between first and last (local days), with a row per day they scanned."""
    names = dict((await session.execute(select(Staff.id, Staff.name))).all())
    out: dict[str, PackerMonth] = {}
    day = first
    while day <= last:
        start = datetime.combine(day, time(0), zone)
        for sid, ok, bad, fixes in await packer_figures(session, start=start, end=start + timedelta(days=1)):
            month = out.setdefault(sid, PackerMonth(sid, names.get(sid, sid)))
            month.days.append(PackerDay(day, ok + bad, bad, fixes))
        day += timedelta(days=1)
    return sorted(out.values(), key=lambda m: (-m.scans, m.staff_id))
