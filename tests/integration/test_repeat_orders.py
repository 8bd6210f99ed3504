"""The repeat-order rule against each customer's own rhythm, on SQLite and PostgreSQL: a wholesale customer's
usual week stays quiet, a burst against their 90-day baseline fires, and a new customer fires at the seed's
floor ("> 2 in 72 h")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orderbot.core.rules.builtins import burst_limit

from tests.integration.test_rules import NOW, _orders, h, world  # noqa: F401  (fixtures)


async def _rhythm(db, config, customer: str, *, per_day: int, days: int, end_hours_ago: float, prefix: str):
    """`per_day` orders a day for `days` days, ending `end_hours_ago` before NOW."""
    for d in range(days):
        at = NOW - timedelta(hours=end_hours_ago) - timedelta(days=d, hours=3)
        await _orders(db, config, per_day, prefix=f"{prefix}{d:03d}", at=at, customer=customer)


@pytest.mark.slow
async def test_a_wholesale_customers_usual_week_does_not_fire(h, config):
    # two orders a day for 60 days, the last three days included: six in 72 h is their normal
    await _rhythm(h.db, config, "W001", per_day=2, days=60, end_hours_ago=0, prefix="W")
    [outcome] = await h.evaluate(only={"repeat_orders"})
    assert outcome.fired == [] and await h.alerts("repeat_orders") == []


@pytest.mark.slow
async def test_a_burst_against_the_customers_own_baseline_fires(h, config):
    await _rhythm(h.db, config, "W002", per_day=2, days=57, end_hours_ago=72, prefix="B")
    await _orders(h.db, config, 16, prefix="BURST", at=NOW - timedelta(hours=10), customer="W002")  # > 15
    await h.evaluate(only={"repeat_orders"})
    [alert] = await h.alerts("repeat_orders")
    assert alert.subject == "W002" and alert.detail["data"]["limit"] == 15
    assert abs(alert.detail["data"]["usual"] - 6.0) < 0.2
    assert "平时约 6." in alert.title
    facts = dict(tuple(f) for f in alert.detail["facts"])
    assert "超过 15 单" in facts["平时节奏"]


async def test_a_new_customer_with_three_orders_in_72_hours_fires(h, config):
    await _orders(h.db, config, 3, prefix="NEW", at=NOW - timedelta(hours=30), customer="N001")
    await _orders(h.db, config, 2, prefix="TWO", at=NOW - timedelta(hours=30), customer="N002")
    await h.evaluate(only={"repeat_orders"})
    [alert] = await h.alerts("repeat_orders")
    assert alert.subject == "N001" and "新客户" in alert.title


@pytest.mark.slow
async def test_a_wholesale_customers_usual_week_plus_a_few_does_not_fire(h, config):
    await _rhythm(h.db, config, "W003", per_day=2, days=57, end_hours_ago=72, prefix="Q")
    await _orders(h.db, config, 15, prefix="BUSY", at=NOW - timedelta(hours=10), customer="W003")  # busy, not odd
    [outcome] = await h.evaluate(only={"repeat_orders"})
    assert outcome.fired == []


def test_burst_limit_is_the_poisson_tail_of_the_customers_own_rate():
    kw = {"floor": 2, "probability": 0.001, "min_baseline_hours": 14 * 24}
    assert burst_limit(120, 60 * 24, 72, **kw) == (6.0, 15)  # a wholesale customer: six in a usual 72 h
    assert burst_limit(8, 60 * 24, 72, **kw) == (0.4, 3)  # twice a month: a fourth order in 72 h is odd
    assert burst_limit(5, 10 * 24, 72, **kw) == (None, 2)  # too new for a rhythm: the floor, "> 2 in 72 h"
    assert burst_limit(0, 80 * 24, 72, **kw) == (0.0, 2)  # the floor holds
