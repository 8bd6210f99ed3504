"""The packers' performance sheet (直连绩效考核表): monthly figures per packer and day, the .xlsx pushed to the
warehouse lead on the 1st by the scheduler (once), and scan.stats for a month answering with it."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, UTC
from types import SimpleNamespace

from openpyxl import load_workbook
from sqlalchemy import select

from orderbot.bot.dispatch import Asker
from orderbot.bot.handlers.base import Context
from orderbot.bot.handlers.stock import scan_stats
from orderbot.core.clock import ManualClock
from orderbot.core.models import OutboxMessage, Scan
from orderbot.core.staff import sync_staff
from orderbot.messaging.addresses import Addresses
from orderbot.jobs.scheduler import Scheduler
from orderbot.jobs.standard import standard_jobs

FEB_2 = datetime(2026, 2, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
MAR_1 = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai


async def scans(db, config):
    async with db.write() as s:
        await sync_staff(s, config)
        for day, ok, bad, fixes in ((0, 9, 1, 5), (1, 20, 0, 6)):
            at = FEB_2 + timedelta(days=day)
            for i in range(ok + bad):
                s.add(
                    Scan(
                        at=at + timedelta(minutes=i),
                        staff_id="zhangsan",
                        station="pack-1",
                        raw=f"r{i}",
                        outcome="ok" if i < ok else "wrong_sku",
                        correction=i < fixes,
                    )
                )
        s.add(Scan(at=FEB_2 - timedelta(days=5), staff_id="zhangsan", raw="january", outcome="ok"))


def summary(data: bytes) -> list[tuple]:
    wb = load_workbook(io.BytesIO(data))
    return [tuple(r) for r in wb["绩效汇总"].iter_rows(min_row=3, values_only=True)], wb


async def test_the_lead_gets_last_months_sheet_on_the_first_once(db, config):
    await scans(db, config)
    sched = Scheduler(db, standard_jobs(config, db=db, addresses=Addresses({"sandbox"})), clock=ManualClock(MAR_1))
    assert (await sched.run_now("performance_sheet")).result == "2026-02 sheet queued to 1 lead(s)"
    await sched.run_now("performance_sheet")
    async with db.read() as s:
        (msg,) = (await s.execute(select(OutboxMessage))).scalars().all()
    assert msg.destination == "user:zhaoqiang" and msg.dedupe_key == "performance_sheet:2026-02:zhaoqiang"
    from orderbot.messaging.reply import Reply

    (sheet,) = Reply.from_dict(msg.payload).files
    assert sheet.filename == "直连绩效考核表_2026-02.xlsx"
    rows, wb = summary(sheet.content)
    # 30 scans, 1 failed: 96.7%; 11 corrections against 5 a day on 2 days worked
    assert rows == [("张三", "zhangsan", 2, 30, 1, "96.7%", 11, 10, "达标")]
    assert [tuple(r) for r in wb["张三"].iter_rows(min_row=2, values_only=True)] == [
        ("2026-02-02", 10, 1, "90.0%", 5),
        ("2026-02-03", 20, 0, "100.0%", 6),
    ]
    later = Scheduler(
        db, standard_jobs(config, db=db, addresses=Addresses({"sandbox"})), clock=ManualClock(MAR_1 + timedelta(days=1))
    )
    assert (await later.run_now("performance_sheet")).result == "not the first of the month"


async def test_scan_stats_for_a_month_comes_with_the_sheet(db, config):
    await scans(db, config)
    async with db.read() as s:
        ctx = Context(Asker("zhaoqiang", "赵强", frozenset({"warehouse_lead"})), s, MAR_1, config, None)
        month = await scan_stats(
            SimpleNamespace(slots={"date_from": "2026-02-01", "date_to": "2026-02-28", "staff": "team"}), ctx
        )
        day = await scan_stats(
            SimpleNamespace(slots={"date_from": "2026-02-02", "date_to": "2026-02-02", "staff": "team"}), ctx
        )
    assert month.table.rows[0][:3] == ("张三", "30", "1")
    (sheet,) = month.files
    assert summary(sheet.content)[0] == [("张三", "zhangsan", 2, 30, 1, "96.7%", 11, 10, "达标")]
    assert day.files == () and day.table.rows[0][:3] == ("张三", "10", "1")
