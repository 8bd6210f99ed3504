"""Data commands: migrate, seed, import, copy-db."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orderbot.cli.common import _config, _settings


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
    summary = asyncio.run(run_seed(settings.database_url, orders=args.orders, days=args.days, seed=args.seed,
                                   config=_config(settings), progress=not args.quiet))
    print(summary.describe())
    return 1 if getattr(summary, "refused", None) else 0


# --- import --------------------------------------------------------------------------------------------------
def cmd_import(args) -> int:
    from tqdm import tqdm

    from orderbot.core.clock import system_clock
    from orderbot.db.engine import Database
    from orderbot.tools.importer import ImportFileError, import_file

    settings = _settings()
    config = _config(settings)
    path = Path(args.file)
    if not path.exists():
        print(f"文件不存在：{path}", file=sys.stderr)
        return 2

    async def run():
        db = Database.from_url(settings.database_url)
        try:
            with tqdm(desc="导入订单", unit="单", disable=args.quiet, file=sys.stderr) as bar:
                return await import_file(db, path, config=config, now=system_clock, progress=bar.update)
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except ImportFileError as exc:
        print(f"无法导入 {path}：{exc}", file=sys.stderr)
        return 2
    for label, reason in report.rejected:
        print(f"{label}: {reason}", file=sys.stderr)
    print(f"导入完成：新建 {report.created}，更新 {report.updated}，未变 {report.unchanged}，"
          f"拒绝 {len(report.rejected)}")
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
