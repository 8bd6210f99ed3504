"""Master data and stock-in figures on a fresh SQLite file, through the same functions the CLI calls:
`catalog import` of 50,000 products and `stock receive` of 50,000 lines (each < 30 s), and one receipt releasing
a SKU's 5,000 waiting orders (< 2 s), every released order's reservation checked against the ledger."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

from benchmarks.bench import BenchContext, Result

PRODUCTS = 50_000
LINES = 50_000
WAITING = 5_000
NOW = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)


async def _fresh(path: Path):
    from orderbot.db.engine import Database, make_engine
    from orderbot.db.migrate import upgrade

    path.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return Database.from_url(url)


def _write_files(workdir: Path) -> tuple[Path, Path]:
    products, receipts = workdir / "products-50k.csv", workdir / "receipts-50k.csv"
    with products.open("w", encoding="utf-8") as f:
        f.write("商品编码,品名,类目,UN编号,重量(g),成本,补货点,采购周期(天)\n")
        for i in range(PRODUCTS):
            un = "UN3481" if i % 10 == 0 else ""
            f.write(
                f"SKU-{i:06d},商品{i},{'蓝牙耳机' if un else '手机壳'},{un},{100 + i % 900},{i % 500}.50,"
                f"{i % 200},{7 + i % 30}\n"
            )
    with receipts.open("w", encoding="utf-8") as f:
        f.write("商品编码,数量,批次,采购单号\n")
        for i in range(LINES):
            f.write(f"SKU-{i % PRODUCTS:06d},{10 + i % 90},B{i // PRODUCTS:02d}-{i % 97},PO-{i // 100:05d}\n")
    return products, receipts


async def bench_stock_files(ctx: BenchContext) -> list[Result]:
    from orderbot.tools.catalog_import import import_catalog
    from orderbot.tools.stock_import import receive_file

    db = await _fresh(ctx.workdir / "stock-files.db")
    products, receipts = _write_files(ctx.workdir)
    try:
        t = time.perf_counter()
        _, report = await import_catalog(db, products, config=ctx.config)
        catalog_s = time.perf_counter() - t
        assert report.created == PRODUCTS and not report.rejected, report.rejected[:3]
        t = time.perf_counter()
        received = await receive_file(db, receipts, config=ctx.config, now=lambda: NOW)
        receive_s = time.perf_counter() - t
        assert received.received == LINES and not received.rejected, received.rejected[:3]
    finally:
        await db.dispose()
    return [
        Result(
            "catalog_import.50k_products.sqlite",
            catalog_s,
            "s",
            ("<", 30.0),
            extra={"rows_per_s": round(PRODUCTS / catalog_s)},
        ),
        Result(
            "stock_receive.50k_lines.sqlite",
            receive_s,
            "s",
            ("<", 30.0),
            extra={"rows_per_s": round(LINES / receive_s)},
        ),
    ]


async def bench_release_waiting(ctx: BenchContext) -> list[Result]:
    from sqlalchemy import func, select

    from orderbot.core.models import Order, StockMovement
    from orderbot.core.orders.schema import parse_order
    from orderbot.core.orders.service import ingest_order
    from orderbot.core.stock import ledger
    from orderbot.core.stock.receiving import ReceiptLine, receive_lines
    from orderbot.tools.catalog_import import import_catalog

    db = await _fresh(ctx.workdir / "stock-waiting.db")
    products = ctx.workdir / "one-product.csv"
    products.write_text("sku,name,category\nPB-20K-BLK,移动电源,移动电源\n", encoding="utf-8")
    try:
        await import_catalog(db, products, config=ctx.config)
        for start in range(0, WAITING, 500):
            async with db.write() as s:
                for i in range(start, start + 500):
                    created = NOW - timedelta(days=10) + timedelta(minutes=(i * 7919) % WAITING)
                    await ingest_order(
                        s,
                        parse_order(
                            {
                                "order_no": f"SO2026{i:08d}",
                                "customer": {"id": f"C{i % 300}"},
                                "amount": "10",
                                "origin": "深圳",
                                "dest_country": "US",
                                "urgency": "normal",
                                "status": "paid",
                                "created_at": created.isoformat(),
                                "lines": [{"sku": "PB-20K-BLK", "qty": 1 + i % 3}],
                            }
                        ),
                        source="bench",
                        config=ctx.config,
                        now=NOW,
                    )
        async with db.read() as s:
            need = (await s.execute(select(func.count()).where(Order.stage == "purchase"))).scalar()
        assert need == WAITING, need
        t = time.perf_counter()
        async with db.write() as s:
            result = await receive_lines(
                s, [ReceiptLine("PB-20K-BLK", 3 * WAITING, "B1", "PO-1")], now=NOW, actor="bench", source="file"
            )
        seconds = time.perf_counter() - t
        async with db.read() as s:  # every released order holds exactly its line, and the ledger adds up
            held = dict(
                (
                    await s.execute(
                        select(StockMovement.order_no, func.sum(StockMovement.d_reserved))
                        .where(StockMovement.order_no.is_not(None))
                        .group_by(StockMovement.order_no)
                    )
                ).all()
            )
            level = await ledger.levels(s, "PB-20K-BLK")
            totals = await ledger.ledger_totals(s, "PB-20K-BLK")
            left = (await s.execute(select(func.count()).where(Order.stage == "purchase"))).scalar()
        wanted = {f"SO2026{i:08d}": 1 + i % 3 for i in range(WAITING)}
        exact = len(result.released) == WAITING and left == 0 and held == wanted
        exact = exact and (level.on_hand, level.reserved) == totals and level.reserved == sum(wanted.values())
    finally:
        await db.dispose()
    return [
        Result(
            "stock_receive.release_5k_waiting.sqlite",
            seconds,
            "s",
            ("<", 2.0),
            extra={"released": len(result.released), "reservations_exact": exact},
        )
    ]
