"""Shared pieces of the report queries: local-day bounds, day bucketing per dialect, the 'delayed' predicate."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any, overload
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, SQLColumnExpression, and_, cast, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from orderbot.core.models import Order
from orderbot.core.sqlutil import dialect_name

TZ = "Asia/Shanghai"


def day_bounds(day_from: date, day_to: date, tz: str = TZ) -> tuple[datetime, datetime]:
    """[start, end) in aware datetimes covering the local days day_from..day_to inclusive."""
    zone = ZoneInfo(tz)
    return (datetime.combine(day_from, time.min, zone), datetime.combine(day_to + timedelta(days=1), time.min, zone))


def local_day(session: AsyncSession, column: SQLColumnExpression[Any], tz: str = TZ) -> ColumnElement[Any]:
    """SQL expression for the local calendar day of a UTC timestamp column (a date on PostgreSQL, 'YYYY-MM-DD'
    text on SQLite: read it back through `as_date`)."""
    if dialect_name(session) == "postgresql":
        return cast(func.timezone(tz, column), Date)
    offset = datetime(2026, 1, 1, tzinfo=ZoneInfo(tz)).utcoffset() or timedelta(0)
    hours = int(offset.total_seconds() // 3600)
    return func.date(column, literal(f"{hours:+d} hours"))


def due_between(day_from: date, day_to: date) -> ColumnElement[bool]:
    """Orders whose effective promised date (the override if any) falls in the range.

    Candidates come from two index range scans (promised_date, promised_override) joined by UNION ALL, then the
    effective date is checked. A plain OR, or an `override IS NULL` test, let SQLite's planner scan every order."""
    by_formula = select(Order.id).where(Order.promised_date.between(day_from, day_to))
    by_override = select(Order.id).where(Order.promised_override.between(day_from, day_to))
    return and_(Order.id.in_(union_all(by_formula, by_override)), effective_due().between(day_from, day_to))


def effective_due() -> ColumnElement[date | None]:
    return func.coalesce(Order.promised_override, Order.promised_date)


def is_delayed(session: AsyncSession, today: date, tz: str = TZ) -> ColumnElement[bool]:
    """Delivered after the promised date, or not delivered (and not cancelled) and already past it."""
    due = effective_due()
    delivered_day = local_day(session, Order.delivered_at, tz)
    return or_(
        and_(Order.delivered_at.is_not(None), delivered_day > due),
        and_(Order.delivered_at.is_(None), Order.status.not_in(("cancelled", "returned")), due < today),
    )


@overload
def as_date(value: date | str) -> date: ...
@overload
def as_date(value: None) -> None: ...
def as_date(value: date | str | None) -> date | None:
    """Day buckets come back as `date` from PostgreSQL and as 'YYYY-MM-DD' text from SQLite."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
