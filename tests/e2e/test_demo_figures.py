"""Issue 16's promise: "any jump leaves figures that look like an ordinary business".

A seeded demo (SQLite, the example config) is fast-forwarded through the page's clock route the way a newcomer
does it (+1小时, 到明早09:00, 到下一批快递交接, then +1天 three times), so the company works, the courier batches
hand parcels over and the hourly jobs run. After every jump the cockpit's overdue share per stage stays about
what the seed showed at the start; each day worked has shipments and scans at the seed's level for its weekday,
delay records with real causes (延迟主因), few overdue tasks and at most 30 new alerts.

A company whose parcels stall (the carriers' pushes far behind the stage limits), whose 质检工单 never move,
whose team leaves tasks open, whose shelves are never restocked or whose warehouse flushes the seed's backlog in
one morning fails these bounds.
"""

from __future__ import annotations

from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from orderbot.app import create_app
from orderbot.config import parse_config
from orderbot.core.models import Alert
from orderbot.core.reports.daily import daily_report
from orderbot.core.reports.metrics import daily_figures
from orderbot.core.reports.pipeline import pipeline
from orderbot.core.staff import sync_staff
from orderbot.db.engine import Database
from orderbot.sandbox.clock import OffsetClock
from orderbot.settings import load_settings
from orderbot.tools.seed import WEEKDAY_FACTOR, seed_database

from tests.conftest import EXAMPLE_CONFIG

pytestmark = pytest.mark.slow
ORDERS = 6000  # ~130 orders a day at the end of the seed: enough that a day's count is not mostly noise
WATCHED = ("purchase", "inventory", "qc", "packing", "routing", "customs", "overseas_wh", "last_mile")
ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Shanghai (`orderbot demo --start 10:00`)


def _config():
    return parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_CONFIG))


async def _shares(db: Database, now: datetime) -> dict[str, tuple[int, int]]:
    async with db.read() as s:
        return {c.stage: (c.orders, c.stuck) for c in await pipeline(s, now=now) if c.stage in WATCHED}


async def test_every_jump_leaves_the_figures_of_an_ordinary_business(tmp_path):
    config = _config()
    start = START
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    await seed_database(db, orders=ORDERS, days=60, seed=7, config=config, now=start)
    async with db.write() as s:
        await sync_staff(s, config)
    clock = OffsetClock(state=tmp_path / "demo.db.clock.json", wall=lambda: START)  # the same business every run
    first_day = start.astimezone(ZONE).date()
    async with db.read() as s:  # the seed's ordinary level: shipments per weekday-factor-1 day over two weeks
        seeded = [await daily_figures(s, first_day - timedelta(days=d), today=first_day) for d in range(1, 15)]
    shipped_per_unit = sum(f.shipped for f in seeded) / sum(WEEKDAY_FACTOR[f.day.weekday()] for f in seeded)
    scanned_per_unit = sum(f.scanned_packages for f in seeded) / sum(WEEKDAY_FACTOR[f.day.weekday()] for f in seeded)
    at_start = await _shares(db, start)

    settings = load_settings(env_file=None, ORDERBOT_LABEL_SECRET="orderbot-demo-labels")
    app = create_app(settings, config=config, db=db, clock=clock, demo=True, run_scheduler=True)
    last_alert = 0
    async with TestClient(TestServer(app)) as client:
        for jump in ("hour", "morning", "courier", "day", "day", "day"):
            r = await client.post("/sandbox/clock", json={"jump": jump})
            assert r.status == 200, await r.text()
            now = clock()
            for stage, (n, stuck) in (await _shares(db, now)).items():
                n0, stuck0 = at_start[stage]
                share0 = stuck0 / n0 if n0 else 0.0
                assert stuck <= max(5, (share0 + 0.12) * n), (jump, stage, n, stuck, "at the start", n0, stuck0)
                assert n <= max(20, 2 * n0), (jump, stage, n, "piling up; at the start", n0)  # e.g. empty shelves
            async with db.read() as s:
                fired = (await s.execute(select(func.count()).where(Alert.id > last_alert))).scalar_one()
                last_alert = (await s.execute(select(func.max(Alert.id)))).scalar() or 0
            assert fired <= 30, (jump, fired)

        today = clock().astimezone(ZONE).date()
        causes: set[str] = set()
        async with db.read() as s:
            for day in (first_day + timedelta(days=d) for d in range(1, 4)):  # whole days worked: Wednesday-Friday
                report = await daily_report(s, day, today=today, now=clock(), tasks=config.tasks)
                f, before = report.figures, report.day_before
                usual = WEEKDAY_FACTOR[day.weekday()]
                assert 0.7 * usual * shipped_per_unit <= f.shipped <= 1.3 * usual * shipped_per_unit, (day, f)
                assert 0.7 * usual * scanned_per_unit <= f.scanned_packages <= 1.3 * usual * scanned_per_unit, (day, f)
                ratio = (f.shipped / WEEKDAY_FACTOR[day.weekday()]) / (
                    before.shipped / WEEKDAY_FACTOR[before.day.weekday()]
                )
                assert 0.7 <= ratio <= 1.3, (day, f.shipped, before.shipped)
                assert f.top_reasons, (day, "延迟主因：无")
                causes |= {reason for reason, _ in f.top_reasons}
            assert len(causes) >= 2, causes  # several causes, not one
            assert report.late_tasks <= 0.1 * max(report.open_tasks, 50), (report.open_tasks, report.late_tasks)
    await db.dispose()
