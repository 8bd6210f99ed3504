"""The figures of the channels, understanding and warehouse issues, adapted to the `orderbot bench` registry."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

from benchmarks.bench import BenchContext, Registry, Result, _pct


def _target(op: str, value: float) -> tuple[str, float]:
    return (op, value)


async def bench_parse(ctx: BenchContext) -> list[Result]:
    """Parsing throughput after warm-up (target ≥ 2,000 messages/s)."""
    import asyncio

    from benchmarks.parse import bench_parse as run

    figures = await asyncio.to_thread(run, 20_000)
    return [
        Result(
            "parse.messages_per_s",
            figures["per_second"],
            "msg/s",
            _target(">=", 2000),
            extra={"init_seconds": figures.get("init_seconds"), "us_per_message": figures.get("us_per_message")},
        )
    ]


async def bench_charts(ctx: BenchContext) -> list[Result]:
    """Median render time of each chart (target < 250 ms) and its PNG size (< 2 MB)."""
    import asyncio

    from benchmarks.charts import bench_charts as run
    from orderbot.bot.charts import ensure_cjk_font

    await asyncio.to_thread(ensure_cjk_font, None, cache_dir=ctx.workdir / "mpl")
    out = []
    for row in await asyncio.to_thread(run, 15):
        name = row.get("name") or row.get("chart")
        ms = row.get("median_ms") or row.get("median_wall_ms") or row.get("wall_median_ms")
        size = row.get("png_bytes") or row.get("bytes")
        out.append(Result(f"chart.{name}.median", float(ms), "ms", _target("<", 250.0), extra={"png_bytes": size}))
        if size is not None:
            out.append(Result(f"chart.{name}.png", float(size) / 1024, "KiB", _target("<", 2048.0)))
    return out


async def bench_reports(ctx: BenchContext) -> list[Result]:
    """Every report query on the seeded SQLite file (target < 300 ms each), beside a raw COUNT(*) of orders."""
    from sqlalchemy import text

    from benchmarks.bench import BENCH_NOW
    from orderbot.core.reports import delays, inventory, metrics, pipeline
    from orderbot.db.engine import Database

    seeded = await ctx.seeded_sqlite()
    db = Database.from_url(seeded["url"])
    now = BENCH_NOW
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    y, week, month = today - timedelta(days=1), today - timedelta(days=6), today - timedelta(days=29)
    queries = {
        "top_delayed_customers": lambda s: delays.top_delayed_customers(
            s, date_from=y, date_to=y, today=today, region="华东", limit=3
        ),
        "top_delayed_customers_week": lambda s: delays.top_delayed_customers(
            s, date_from=week, date_to=today, today=today, limit=5
        ),
        "delay_reasons": lambda s: delays.delay_reasons(s, date_from=week, date_to=today, limit=5),
        "pipeline": lambda s: pipeline.pipeline(s, now=now),
        "trend_orders_30d": lambda s: metrics.series(s, "orders", date_from=month, date_to=today, today=today),
        "trend_delayed_7d": lambda s: metrics.series(s, "delayed", date_from=week, date_to=today, today=today),
        "trend_cancel_rate_30d": lambda s: metrics.series(
            s, "cancel_rate", date_from=month, date_to=today, today=today
        ),
        "daily": lambda s: metrics.daily_figures(s, y, today=today),
        "inventory": lambda s: inventory.sku_stock(s, "PB-20K-BLK", now=now),
        "stockout_forecast": lambda s: inventory.stockout_forecast(s, now=now, extra_orders=5000, hours=48),
    }
    results = []
    try:
        async with db.read(heavy=True) as s:  # as the bot runs report queries
            t = time.perf_counter()
            await s.execute(text("SELECT count(*) FROM orders"))
            count_ms = (time.perf_counter() - t) * 1000
            for name, q in queries.items():
                await q(s)  # warm
                samples = []
                for _ in range(5):
                    t = time.perf_counter()
                    await q(s)
                    samples.append((time.perf_counter() - t) * 1000)
                results.append(
                    Result(
                        f"report.{name}",
                        statistics.median(samples),
                        "ms",
                        _target("<", 300.0),
                        baseline=count_ms,
                        baseline_label="SELECT count(*) FROM orders",
                        extra={"max_ms": max(samples)},
                    )
                )
    finally:
        await db.dispose()
    return results


async def bench_card_reply(ctx: BenchContext) -> list[Result]:
    """The order card reply as the bot makes it: parse + query + render text (target p99 < 50 ms)."""
    import asyncio

    from benchmarks.bench import BENCH_NOW, CARD_ROLES, _card_refs
    from orderbot.bot.handlers.orders import card_text
    from orderbot.bot.intents import IntentParser, Vocabulary
    from orderbot.core.orders.card import order_card
    from orderbot.db.engine import Database

    seeded = await ctx.seeded_sqlite()
    db = Database.from_url(seeded["url"])
    parser = await asyncio.to_thread(IntentParser, Vocabulary.static(), cache_dir=ctx.workdir / "jieba")
    refs = await _card_refs(db, min(1000, ctx.lookups) + 100)
    samples = []
    try:
        async with db.read() as s:
            for i, ref in enumerate(refs):
                t = time.perf_counter()
                intent = parser.parse(f"查单 {ref[0]}", BENCH_NOW)
                card = await order_card(s, intent.slots["order_ref"], roles=CARD_ROLES, rules=ctx.config.visibility)
                card_text(card)
                if i >= 100:
                    samples.append(time.perf_counter() - t)
    finally:
        await db.dispose()
    return [
        Result(
            "order_card_reply.p99",
            _pct(samples, 0.99),
            "ms",
            _target("<", 50.0),
            extra={"p50_ms": _pct(samples, 0.5), "replies": len(samples)},
        )
    ]


def _convert(rows: list[dict], targets: dict[str, tuple[str, float]]) -> list[Result]:
    out = []
    for r in rows:
        out.append(
            Result(
                r["name"],
                float(r["figure"]),
                r["unit"],
                targets.get(r["name"]),
                baseline=r.get("baseline"),
                baseline_label=str(r.get("target", "")),
                extra={"detail": r.get("detail", "")},
            )
        )
    return out


async def bench_callbacks(ctx: BenchContext) -> list[Result]:
    """Encrypted WeCom callbacks, ours vs a bare decrypt-and-200 endpoint (≥ 0.5× bare; p99 < 50 ms at 200/s)."""
    from benchmarks.channels import bench_wecom_callbacks

    rows = await bench_wecom_callbacks()
    out = _convert(rows, {"wecom_callback.ack_p99_at_200rps": ("<", 50.0)})
    tp = next(r for r in rows if r["name"] == "wecom_callback.throughput")
    out.append(Result("wecom_callback.throughput_vs_bare", tp["figure"] / tp["baseline"], "x bare", _target(">=", 0.5)))
    return out


def _against_rate_limits(row: dict, most: float) -> Result:
    """An outbox drain's time, its baseline the rate limits' minimum, its target at most `most`."""
    return Result(
        row["name"],
        row["figure"],
        row["unit"],
        _target("<=", most),
        baseline=row["baseline"],
        baseline_label="the rate limits' minimum",
        extra={"detail": row["detail"], "ok": row["ok"]},
    )


async def bench_outbox(ctx: BenchContext) -> list[Result]:
    """10,000 messages to 50 robots drain at the rate limit's pace and no faster (simulated clock)."""
    from benchmarks.channels import bench_outbox_drain

    (row,) = await bench_outbox_drain()
    return [_against_rate_limits(row, row["baseline"] + 60)]


async def bench_outbox_outage(ctx: BenchContext) -> list[Result]:
    """5,000 messages after a 10-minute outage: delivered within the rate limits' minimum + 10%, none dead or
    doubled (simulated clock)."""
    from benchmarks.outbox_outage import bench_outbox_after_outage

    row = await bench_outbox_after_outage()
    return [_against_rate_limits(row, round(row["baseline"] * 1.1))]


async def bench_scans_sqlite(ctx: BenchContext) -> list[Result]:
    """Scans end to end on SQLite (≥ 300 scans/s) and scan → customer notice leaving the outbox (p99 < 1 s)."""
    from benchmarks.warehouse import bench_scans_sqlite as run

    return _convert(
        await run(), {"scan.throughput.sqlite": (">=", 300.0), "scan.to_customer_notice.sqlite": ("<", 1000.0)}
    )


async def bench_scans_postgresql(ctx: BenchContext) -> list[Result]:
    from benchmarks.warehouse import bench_scans_postgresql as run

    return _convert(await run(ctx.pg_url), {"scan.to_customer_notice.postgresql": ("<", 1000.0)})


async def bench_hostile(ctx: BenchContext) -> list[Result]:
    """1,000 hostile requests mixed into 200 req/s of good callbacks: good acknowledgements keep p99 < 50 ms."""
    from benchmarks.hostile import bench_hostile_mix

    (row,) = await bench_hostile_mix()
    return [
        Result(
            row["name"],
            row["figure"],
            row["unit"],
            _target("<", 50.0),
            baseline=row["baseline"],
            baseline_label="the same good load alone",
            extra={"detail": row["detail"], "ok": row["ok"]},
        )
    ]


async def bench_demo(ctx: BenchContext) -> list[Result]:
    """The demo company (issue 16): a fresh 20,000-order demo, +1小时 then +1天 seven times through the page's
    route: alerts per day (≤ 30) and how long the jumps take (+1小时 < 2 s, +1天 < 10 s; CPU in `extra`)."""
    from benchmarks.demo_alerts import measure

    rows = await measure(20_000, 60, 7)
    days = [r for r in rows if r["step"].startswith("day")]
    took = sorted(r["seconds"] for r in days)
    return [
        Result(
            "demo.alerts_per_day",
            round(sum(r["alerts"] for r in days) / len(days), 1),
            "alerts",
            _target("<=", 30.0),
            extra={"per_day": [r["alerts"] for r in days], "first_hour": rows[0]["alerts"]},
        ),
        Result(
            "demo.jump_hour",
            rows[0]["seconds"],
            "s",
            _target("<", 2.0),
            extra={"cpu_seconds": rows[0]["cpu_seconds"]},
        ),
        Result(
            "demo.jump_day_median",
            took[len(took) // 2],
            "s",
            _target("<", 10.0),
            extra={"seconds": [r["seconds"] for r in days], "cpu_seconds": [r["cpu_seconds"] for r in days]},
        ),
    ]


def register(reg: Registry) -> None:
    reg.add("report", bench_reports)
    reg.add("order_card_reply", bench_card_reply)
    reg.add("parse", bench_parse)
    reg.add("chart", bench_charts)
    reg.add("wecom_callback", bench_callbacks)
    reg.add("hostile", bench_hostile)
    reg.add("outbox", bench_outbox)
    reg.add("outbox_outage", bench_outbox_outage)
    reg.add("scan.sqlite", bench_scans_sqlite)
    reg.add("scan.postgresql", bench_scans_postgresql, needs_pg=True)
    from benchmarks.stock import bench_release_waiting, bench_stock_files

    reg.add("stock_files.sqlite", bench_stock_files)
    reg.add("stock_release.sqlite", bench_release_waiting)
    reg.add("demo", bench_demo)
