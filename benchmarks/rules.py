"""The rules issue's figures: one full evaluation of every alert rule over the seeded orders, beside the sum of
the raw SQL aggregates those rules run (replayed through a bare sqlite3 connection)."""

from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import timedelta, UTC
from zoneinfo import ZoneInfo

from sqlalchemy import event

from benchmarks.bench import BENCH_NOW, BenchContext, Result


async def bench_rules(ctx: BenchContext) -> list[Result]:
    from orderbot.bot.alerting import RulesRunner
    from orderbot.core.rules.builtins import RULES
    from orderbot.core.rules.engine import rule_config
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database

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
        async with db.read(heavy=True) as session:  # where the rules run them (the threaded engine on SQLite)
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
    return [
        Result(
            "rules.full_evaluation",
            statistics.median(walls),
            "ms",
            ("<", 1000.0),
            baseline=statistics.median(raw),
            baseline_label=label,
            extra={"active_alerts": fired, "per_rule_ms": per_rule, "max_ms": max(walls)},
        ),
        Result(
            "rules.first_evaluation",
            statistics.median(first),
            "ms",
            None,
            baseline=statistics.median(raw),
            baseline_label=label,
            extra={"alerts_fired": fired, "per_rule_ms": first_per_rule, "max_ms": max(first)},
        ),
    ]


async def bench_tracking_to_card(ctx: BenchContext) -> list[Result]:
    """A tracking push that makes `customs_stuck` fire (customs asks for information), over real HTTP to a
    running app, until the card to the customs group has left the outbox: p99 of that time at 20 pushes/s."""
    import asyncio
    import hashlib
    import hmac
    import json
    from datetime import datetime

    import aiohttp
    from aiohttp import web
    from sqlalchemy import select, update

    from orderbot.app import create_app, freeze_startup_heap
    from orderbot.messaging.senders.sandbox import SandboxSender
    from orderbot.core.models import Order, OutboxMessage
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database
    from orderbot.tools.seed import run_seed
    from orderbot.settings import load_settings

    url = f"sqlite+aiosqlite:///{ctx.workdir / 'tracking.db'}"
    await run_seed(url, orders=5000, days=30, seed=5, config=ctx.config, progress=False)
    db = Database.from_url(url)
    n, rate = 200, 20.0
    async with db.write() as s:
        await sync_staff(s, ctx.config)
        ids = (
            (await s.execute(select(Order.id).where(Order.status == "shipped").order_by(Order.id).limit(n)))
            .scalars()
            .all()
        )
        for i, oid in enumerate(ids):
            await s.execute(
                update(Order)
                .where(Order.id == oid)
                .values(tracking_no=f"BT{i:09d}CN", stage="routing", customs_state=None, customs_in_at=None)
            )
    secret = "bench-tracking"
    settings = load_settings(env_file=None, TRACKING_WEBHOOK_SECRET=secret, ORDERBOT_DATABASE_URL=url)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    app = create_app(settings, config=ctx.config, db=db, clock=clock, senders={"sandbox": SandboxSender(clock)})
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    freeze_startup_heap()  # as `orderbot serve` does once its app has started
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    posted: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as http:

            async def push(i: int) -> None:
                body = json.dumps(
                    {
                        "event_id": f"bench-{i}",
                        "tracking_no": f"BT{i:09d}CN",
                        "status": "InTransit",
                        "sub_status": "InTransit_CustomsRequiringInformation",
                        "at": datetime.now(UTC).isoformat(),
                        "message": "海关要求补充资料",
                    }
                ).encode()
                sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                posted[f"BT{i:09d}CN"] = time.time()
                async with http.post(
                    f"http://127.0.0.1:{port}/webhooks/tracking/generic",
                    data=body,
                    headers={"X-Orderbot-Signature": sig},
                ) as resp:
                    assert resp.status == 200, await resp.text()

            tasks = []
            for i in range(len(ids)):
                tasks.append(asyncio.create_task(push(i)))
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*tasks)
        deadline = time.time() + 30
        latencies: list[float] = []
        while time.time() < deadline:
            async with db.read() as s:
                rows = (
                    await s.execute(
                        select(OutboxMessage.payload, OutboxMessage.sent_at).where(
                            OutboxMessage.destination == "group:customs", OutboxMessage.state == "sent"
                        )
                    )
                ).all()
                order_of = dict(
                    (await s.execute(select(Order.order_no, Order.tracking_no).where(Order.id.in_(ids)))).all()
                )
            latencies = []
            for order_no, tracking_no in order_of.items():
                sent = [at for payload, at in rows if order_no in json.dumps(payload, ensure_ascii=False)]
                if sent:
                    latencies.append((min(sent).timestamp() - posted[tracking_no]) * 1000)
            if len(latencies) == len(ids):
                break
            await asyncio.sleep(0.5)
    finally:
        await runner.cleanup()
        await db.dispose()
    latencies.sort()
    missing = len(ids) - len(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("inf")
    return [
        Result(
            "rules.tracking_to_card_p99",
            p99 if not missing else float("inf"),
            "ms",
            ("<", 2000.0),
            extra={
                "pushes": len(ids),
                "rate_per_s": rate,
                "p50_ms": statistics.median(latencies) if latencies else None,
                "cards_missing": missing,
            },
        )
    ]


def register(reg) -> None:
    reg.add("rules", bench_rules)
    reg.add("tracking_to_card", bench_tracking_to_card)
