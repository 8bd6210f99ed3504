"""Data commands: migrate, seed, import, copy-db."""

from __future__ import annotations

import asyncio
import sys

from orderbot.cli.common import print_rejected, require_schema, run_file_command, _config, _settings


# --- migrate -------------------------------------------------------------------------------------------------
def cmd_migrate(args) -> int:
    from orderbot.db.engine import make_engine
    from orderbot.db.migrate import upgrade

    settings = _settings()

    async def run():
        engine = make_engine(settings.database_url)
        try:
            rev = await upgrade(engine)
        finally:
            await engine.dispose()
        print(f"schema at revision {rev}")

    asyncio.run(run())
    return 0


# --- seed ----------------------------------------------------------------------------------------------------
def cmd_seed(args) -> int:
    from orderbot.tools.seed import run_seed

    settings = _settings()
    summary = asyncio.run(
        run_seed(
            settings.database_url,
            orders=args.orders,
            days=args.days,
            seed=args.seed,
            config=_config(settings),
            progress=not args.quiet,
        )
    )
    print(summary.describe())
    return 1 if getattr(summary, "refused", None) else 0


# --- import --------------------------------------------------------------------------------------------------
def cmd_import(args) -> int:
    from orderbot.core.clock import system_clock
    from orderbot.tools.importer import import_file

    async def work(db, path, config, progress):
        return await import_file(db, path, config=config, now=system_clock, progress=progress)

    report, code = run_file_command(args, "导入订单", "单", work)
    if report is None:
        return code
    print_rejected(report.rejected)
    print(
        f"导入完成：新建 {report.created}，更新 {report.updated}，未变 {report.unchanged}，拒绝 {len(report.rejected)}"
    )
    return 1 if report.rejected else 0


# --- copy-db -------------------------------------------------------------------------------------------------
def cmd_copy_db(args) -> int:
    """Everything from one database into an empty other one (SQLite → PostgreSQL)."""
    from orderbot.tools.copydb import TargetNotEmpty, copy_database

    settings = _settings()
    source = args.source or settings.database_url
    if source == args.to:
        print("源数据库和目标数据库相同", file=sys.stderr)
        return 2
    # A missing or unmigrated source is one line, not "0 rows copied" (and no empty file made to find it empty).
    require_schema(settings.model_copy(update={"database_url": source}))

    def progress(table: str, rows: int) -> None:
        if not args.quiet:
            print(f"\r{table}: {rows:,}", end="", file=sys.stderr, flush=True)

    try:
        copied = asyncio.run(copy_database(source, args.to, progress=progress))
    except TargetNotEmpty as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(file=sys.stderr)
    total = sum(c.rows for c in copied)
    print(f"已复制 {total:,} 行（{len([c for c in copied if c.rows])} 张表）到 {args.to.split('@')[-1]}")
    return 0
