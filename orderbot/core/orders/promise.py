"""Promised delivery date: the seed's formula from the ETA table, and a supervisor's override that wins."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from orderbot.config import EtaConfig

OVERRIDE_ROLES = frozenset({"sales_supervisor", "admin"})


def promised_date(
    created_at: datetime, origin: str | None, dest_country: str | None, eta: EtaConfig, tz: str = "Asia/Shanghai"
) -> date:
    """Order day (in the business time zone) plus the lane's days: 深圳→US +5, otherwise +8 by default."""
    return created_at.astimezone(ZoneInfo(tz)).date() + timedelta(days=eta.days_for(origin, dest_country))


def effective_promised(computed: date | None, override: date | None) -> date | None:
    return override or computed
