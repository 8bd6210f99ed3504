"""Master data and stock commands: `orderbot catalog import FILE`, `orderbot stock receive FILE`."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orderbot.cli.common import _config, _settings


def _file(args) -> Path | None:
    path = Path(args.file)
    if not path.exists():
        print(f"文件不存在：{path}", file=sys.stderr)
        return None
    return path


def _print_rejected(rejected) -> None:
    for label, reason in rejected:
        print(f"{label}: {reason}", file=sys.stderr)


def cmd_catalog_import(args) -> int:
    from tqdm import tqdm

    from orderbot.db.engine import Database
    from orderbot.tools.catalog_import import import_catalog
    from orderbot.tools.tabular import ImportFileError

    settings = _settings()
    config = _config(settings)
    path = _file(args)
    if path is None:
        return 2

    async def run():
        db = Database.from_url(settings.database_url)
        try:
            with tqdm(desc="导入主数据", unit="行", disable=args.quiet, file=sys.stderr) as bar:
                return await import_catalog(db, path, config=config, progress=bar.update)
        finally:
            await db.dispose()

    try:
        kind, report = asyncio.run(run())
    except ImportFileError as exc:
        print(f"无法导入 {path}：{exc}", file=sys.stderr)
        return 2
    _print_rejected(report.rejected)
    what = "承运商条款" if kind == "carriers" else "商品"
    print(f"{what}导入完成：新建 {report.created}，更新 {report.updated}，未变 {report.unchanged}，"
          f"拒绝 {len(report.rejected)}")
    return 1 if report.rejected else 0


def cmd_stock_receive(args) -> int:
    from tqdm import tqdm

    from orderbot.core.clock import system_clock
    from orderbot.db.engine import Database
    from orderbot.tools.stock_import import receive_file
    from orderbot.tools.tabular import ImportFileError

    settings = _settings()
    config = _config(settings)
    path = _file(args)
    if path is None:
        return 2

    async def run():
        db = Database.from_url(settings.database_url)
        try:
            with tqdm(desc="入库", unit="行", disable=args.quiet, file=sys.stderr) as bar:
                return await receive_file(db, path, config=config, now=system_clock, actor=args.actor,
                                          progress=bar.update)
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except ImportFileError as exc:
        print(f"无法导入 {path}：{exc}", file=sys.stderr)
        return 2
    _print_rejected(report.rejected)
    print(f"入库完成：到货 {report.received}，预计到货（在途）{report.due}，重复未记 {report.unchanged}，"
          f"拒绝 {len(report.rejected)}")
    if report.released:
        shown = "、".join(report.released[:20]) + (f" 等 {len(report.released)} 单" if len(report.released) > 20 else "")
        print(f"已放行等待到货的订单：{shown}")
    return 1 if report.rejected else 0


def add_parsers(sub) -> None:
    """`catalog import` and `stock receive` (called by `cli.build_parser`)."""
    catalog = sub.add_parser("catalog", help="master data: products, carriers and their contract clauses")
    csub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    s = csub.add_parser("import", help="products, or carriers with clauses (told by the headers), from "
                                       ".csv/.xlsx/.jsonl; bad rows reported, good rows loaded")
    s.add_argument("file")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_catalog_import)

    stock = sub.add_parser("stock", help="stock receiving")
    ssub = stock.add_subparsers(dest="stock_command", required=True, metavar="SUBCOMMAND")
    s = ssub.add_parser("receive", help="receiving lines (sku, qty, batch, po_no, expected_at) into the ledger; "
                                        "releases orders waiting for stock")
    s.add_argument("file")
    s.add_argument("--actor", default="import", help="who booked it, for the ledger (default: import)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_stock_receive)
