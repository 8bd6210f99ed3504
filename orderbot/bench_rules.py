"""The rules issue's figures: one full evaluation of every alert rule over the seeded orders, beside the sum of
the raw SQL aggregates those rules run (replayed through a bare sqlite3 connection)."""
from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event

from .bench import BENCH_NOW, BenchContext, Result


async def bench_rules(ctx: BenchContext) -> list[Result]:
    from .bot.alerting import RulesRunner
    from .core.rules.builtins import RULES
    from .core.rules.engine import rule_config
    from .core.staff import sync_staff
    from .db import Database

    seeded = await ctx.seeded_sqlite()
    db = Database.from_url(seeded["url"])
    captured: list[tuple[str, object]] = []
    capturing = False

    def capture(conn, cursor, statement, parameters, context, executemany):
        if capturing and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.write() as session:
            await sync_staff(session, ctx.config)
        runner = RulesRunner(db, ctx.config, lambda: BENCH_NOW)
        # The SQL the rules' measurements run, captured once.
        capturing = True
        async with db.read() as session:
            for name, rule in RULES.items():
                await rule.measure(session, rule_config(ctx.config, name), BENCH_NOW, ZoneInfo(ctx.config.timezone))
        capturing = False
        first, fired = [], 0
        for _ in range(3):  # dry runs of a first evaluation: every alert, action and card made, then rolled back
            t = time.perf_counter()
            outcomes = await runner.evaluate(now=BENCH_NOW, trigger="bench", dry_run=True)
            first.append((time.perf_counter() - t) * 1000)
            fired = sum(len(o.fired) for o in outcomes)
        first_per_rule = {o.rule: round(o.ms, 1) for o in outcomes}
        await runner.evaluate(now=BENCH_NOW, trigger="bench")  # for real: the alerts now exist (this runs last)
        walls = []
        for i in range(3):  # what the scheduler does every few minutes: measure, update, announce what is due
            t = time.perf_counter()
            outcomes = await runner.evaluate(now=BENCH_NOW + timedelta(minutes=5 * (i + 1)), trigger="bench")
            walls.append((time.perf_counter() - t) * 1000)
        per_rule = {o.rule: round(o.ms, 1) for o in outcomes}
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
        await db.dispose()
    raw = []
    with sqlite3.connect(seeded["path"]) as conn:
        for _ in range(3):
            t = time.perf_counter()
            for statement, parameters in captured:
                conn.execute(statement, parameters or ()).fetchall()
            raw.append((time.perf_counter() - t) * 1000)
    label = f"the {len(captured)} raw SQL aggregates"
    return [Result("rules.full_evaluation", statistics.median(walls), "ms", ("<", 1000.0),
                   baseline=statistics.median(raw), baseline_label=label,
                   extra={"active_alerts": fired, "per_rule_ms": per_rule, "max_ms": max(walls)}),
            Result("rules.first_evaluation", statistics.median(first), "ms", None,
                   baseline=statistics.median(raw), baseline_label=label,
                   extra={"alerts_fired": fired, "per_rule_ms": first_per_rule, "max_ms": max(first)})]


def register(reg) -> None:
    reg.add("rules", bench_rules)
