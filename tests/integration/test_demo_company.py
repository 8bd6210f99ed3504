"""The demo company at work (sandbox/company.py) on SQLite and PostgreSQL: after a fast-forward the days look
like the seed's ordinary days, and everything new went through the core use cases (intake, payment, customs
paperwork, scans, carrier pushes)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from orderbot.core.models import Order, OrderEvent, Scan, Task
from orderbot.core.orders.customs import DOCS_TASK_TYPE
from orderbot.sandbox.company import DemoCompany
from orderbot.tools.seed import seed_database

NOW = datetime(2026, 3, 10, 16, 0, tzinfo=UTC)  # Tuesday, midnight in Shanghai
TZ = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.slow


async def _per_day(db, start: datetime, end: datetime) -> Counter:
    async with db.read() as s:
        times = (
            (await s.execute(select(Order.created_at).where(Order.created_at >= start, Order.created_at < end)))
            .scalars()
            .all()
        )
    return Counter((t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(TZ).date() for t in times)


async def test_two_days_of_work_look_like_the_seeds_ordinary_days(db, config):
    await seed_database(db, orders=3000, days=60, seed=7, config=config, now=NOW)
    week = await _per_day(db, NOW - timedelta(days=7), NOW)
    usual = sum(week.values()) / 7
    company = DemoCompany(db, config, label_secret="s", seed=7)
    for step in range(16):  # two days in three-hour steps, as the page's "+1天" does
        await company.work(NOW + timedelta(hours=3 * step), NOW + timedelta(hours=3 * step + 3))
    days = await _per_day(db, NOW, NOW + timedelta(days=2))
    assert len(days) == 2
    for day, n in days.items():  # a Wednesday and a Thursday: ordinary weekdays
        assert 0.65 * usual <= n <= 1.35 * usual, (day, n, usual)

    async with db.read() as s:
        hours = Counter(
            (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(TZ).hour
            for t in (await s.execute(select(Order.created_at).where(Order.created_at >= NOW))).scalars()
        )
        assert sum(hours[h] for h in range(10, 17)) > 3 * sum(hours[h] for h in range(1, 6))  # the daily rhythm
        created = (
            await s.execute(
                select(func.count())
                .select_from(OrderEvent)
                .where(OrderEvent.kind == "created", OrderEvent.source == "demo", OrderEvent.at >= NOW)
            )
        ).scalar_one()
        assert created == sum(days.values())  # every new order entered through ingest_order
        scans = (
            await s.execute(select(func.count()).select_from(Scan).where(Scan.at >= NOW, Scan.outcome == "ok"))
        ).scalar_one()
        assert scans > 0.5 * usual  # the warehouse keeps shipping, label by label
        pushes = (
            await s.execute(
                select(func.count()).select_from(OrderEvent).where(OrderEvent.source == "generic", OrderEvent.at >= NOW)
            )
        ).scalar_one()
        assert pushes > 0  # parcels move on through carrier pushes
        open_docs = (
            await s.execute(
                select(func.count()).select_from(Task).where(Task.type == DOCS_TASK_TYPE, Task.state == "open")
            )
        ).scalar_one()
        done_docs = (
            await s.execute(
                select(func.count())
                .select_from(Task)
                .where(Task.type == DOCS_TASK_TYPE, Task.state == "done", Task.closed_at >= NOW)
            )
        ).scalar_one()
        assert done_docs > open_docs  # the customs team keeps up; only the slow few wait


async def test_new_orders_are_numbered_by_their_local_day_and_counted(db, config):
    await seed_database(db, orders=600, days=60, seed=7, config=config, now=NOW)
    first = DemoCompany(db, config, label_secret="s", seed=7)
    done = await first.work(NOW, NOW + timedelta(hours=12))
    async with db.read() as s:
        nos = (
            (await s.execute(select(Order.order_no).where(Order.created_at >= NOW).order_by(Order.order_no)))
            .scalars()
            .all()
        )
    assert done.counts.get("orders") == len(nos) > 0
    assert all(no.startswith("SO2026031") for no in nos)
