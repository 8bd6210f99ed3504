"""Master data and stock commands: `orderbot catalog import FILE`, `orderbot stock receive FILE`."""

from __future__ import annotations

from orderbot.cli.common import print_rejected, run_file_command


def cmd_catalog_import(args) -> int:
    from orderbot.tools.catalog_import import import_catalog

    async def work(db, path, config, progress):
        return await import_catalog(db, path, config=config, progress=progress)

    result, code = run_file_command(args, "导入主数据", "行", work)
    if result is None:
        return code
    kind, report = result
    print_rejected(report.rejected)
    what = "承运商条款" if kind == "carriers" else "商品"
    print(
        f"{what}导入完成：新建 {report.created}，更新 {report.updated}，未变 {report.unchanged}，"
        f"拒绝 {len(report.rejected)}"
    )
    return 1 if report.rejected else 0


def cmd_stock_receive(args) -> int:
    from orderbot.core.clock import system_clock
    from orderbot.tools.stock_import import receive_file

    async def work(db, path, config, progress):
        return await receive_file(db, path, config=config, now=system_clock, actor=args.actor, progress=progress)

    report, code = run_file_command(args, "入库", "行", work)
    if report is None:
        return code
    print_rejected(report.rejected)
    print(
        f"入库完成：到货 {report.received}，预计到货（在途）{report.due}，重复未记 {report.unchanged}，"
        f"拒绝 {len(report.rejected)}"
    )
    if report.released:
        shown = "、".join(report.released[:20]) + (
            f" 等 {len(report.released)} 单" if len(report.released) > 20 else ""
        )
        print(f"已放行等待到货的订单：{shown}")
    return 1 if report.rejected else 0


def add_parsers(sub) -> None:
    """`catalog import` and `stock receive` (called by `cli.build_parser`)."""
    catalog = sub.add_parser("catalog", help="master data: products, carriers and their contract clauses")
    csub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="SUBCOMMAND")
    s = csub.add_parser(
        "import",
        help="products, or carriers with clauses (told by the headers), from "
        ".csv/.xlsx/.jsonl; bad rows reported, good rows loaded",
    )
    s.add_argument("file")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_catalog_import)

    stock = sub.add_parser("stock", help="stock receiving")
    ssub = stock.add_subparsers(dest="stock_command", required=True, metavar="SUBCOMMAND")
    s = ssub.add_parser(
        "receive",
        help="receiving lines (sku, qty, batch, po_no, expected_at) into the ledger; releases orders waiting for stock",
    )
    s.add_argument("file")
    s.add_argument("--actor", default="import", help="who booked it, for the ledger (default: import)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_stock_receive)
