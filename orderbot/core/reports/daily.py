"""The daily report's figures (日报): one day against the day before and the same weekday a week earlier, the open
and overdue tasks at the time of asking, and 14 days of orders and shipments (with the 14 before) for the trend.
The chat's 日报 and the morning job both read it here; the bot turns it into a reply (`bot/daily_report.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.config import TasksConfig
from orderbot.core.reports.metrics import DailyFigures, daily_figures, series
from orderbot.core.tasks import task_counts

TREND_DAYS = 14


@dataclass(frozen=True)
class DailyReport:
    day: date
    figures: DailyFigures  # the day itself
    day_before: DailyFigures
    week_before: DailyFigures  # the same weekday a week earlier
    open_tasks: int  # now, not at the end of `day`
    late_tasks: int
    orders: list[tuple[date, float]]  # the TREND_DAYS days ending with `day`
    shipped: list[tuple[date, float]]
    orders_before: list[tuple[date, float]]  # the TREND_DAYS days before those


async def daily_report(
    session: AsyncSession, day: date, *, today: date, now: datetime, tasks: TasksConfig
) -> DailyReport:
    d0 = await daily_figures(session, day, today=today)
    d1 = await daily_figures(session, day - timedelta(days=1), today=today)
    d7 = await daily_figures(session, day - timedelta(days=7), today=today)
    open_tasks, late_tasks = await task_counts(session, tasks, now=now)
    start = day - timedelta(days=TREND_DAYS - 1)
    orders = await series(session, "orders", date_from=start, date_to=day, today=today)
    shipped = await series(session, "shipped", date_from=start, date_to=day, today=today)
    before = await series(
        session, "orders", date_from=start - timedelta(days=TREND_DAYS), date_to=start - timedelta(days=1), today=today
    )
    return DailyReport(day, d0, d1, d7, open_tasks, late_tasks, orders, shipped, before)
