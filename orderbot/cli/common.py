"""What every command shares: settings and business config loaded with clear errors, and `--now` parsing."""

from __future__ import annotations

import logging
import sys

from orderbot.config import ConfigError, load_config
from orderbot.settings import Settings, SettingsError, load_settings
from datetime import UTC

log = logging.getLogger("orderbot")


def _settings(**overrides) -> Settings:
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        for name, msg in exc.problems:
            print(f"环境变量 {name}: {msg}", file=sys.stderr)
        raise SystemExit(2) from None
    from orderbot.db.engine import set_sqlite_driver

    set_sqlite_driver(settings.sqlite_driver)
    return settings


def _config(settings: Settings, required: bool = False, example_fallback: bool = False):
    """The business config. With `example_fallback` (demo, ask, label), a missing file means the example
    company's config, said on stderr, rather than an empty staff list that would make everyone a stranger."""
    from orderbot.config import EXAMPLE_CONFIG

    path = settings.config_path
    if example_fallback and not path.exists():
        print(f"（没有 {path}，使用示例配置 {EXAMPLE_CONFIG.name}）", file=sys.stderr)
        path = EXAMPLE_CONFIG
    try:
        return load_config(path, required=required)
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        if not path.exists():  # the same hint check-config gives
            print(f"提示：可以从示例开始：cp {EXAMPLE_CONFIG.name} {path}", file=sys.stderr)
        raise SystemExit(2) from None


def _parse_now(value: str | None):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    if not value:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"--now 不是 ISO-8601 时间：{value}") from None
    return now if now.tzinfo else now.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


MIGRATE_HINT = (
    "数据库结构不是最新：请先运行 orderbot migrate | the database schema is not current: run orderbot migrate"
)


def require_schema(settings: Settings) -> None:
    """Exit 2 with one line when the database is missing, empty or behind, before a command touches it.

    Every command that reads or writes business tables calls this first (`main` does it for them), so an
    unmigrated database gives the same one-line hint everywhere instead of a driver traceback.
    """
    import asyncio

    from sqlalchemy.exc import SQLAlchemyError

    from orderbot.db.engine import make_engine, sqlite_path
    from orderbot.db.migrate import schema_is_current

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():  # do not create an empty file just to find it empty
        print(f"数据库文件不存在：{path.resolve()}；请先运行 orderbot migrate（或 orderbot demo）", file=sys.stderr)
        raise SystemExit(2)

    async def current() -> bool:
        engine = make_engine(settings.database_url)
        try:
            return await schema_is_current(engine)
        finally:
            await engine.dispose()

    try:
        ok = asyncio.run(current())
    except (SQLAlchemyError, OSError) as exc:
        print(f"无法连接数据库：{type(exc).__name__}: {str(exc).splitlines()[0][:160]}", file=sys.stderr)
        raise SystemExit(2) from None
    if not ok:
        print(MIGRATE_HINT, file=sys.stderr)
        raise SystemExit(2)


def command_clock(settings: Settings):
    """The clock a one-shot command runs on: a demo database's own clock (the wall clock plus however far the
    sandbox page fast-forwarded, kept in `<db>.clock.json`), so `orderbot ask` answers for the page's day;
    the wall clock for every other database."""
    from orderbot.core.clock import system_clock
    from orderbot.db.engine import sqlite_path
    from orderbot.sandbox.clock import OffsetClock, clock_file

    path = sqlite_path(settings.database_url)
    if path is not None and clock_file(path).exists():
        return OffsetClock(state=clock_file(path))
    return system_clock


def run_file_command(args, desc: str, unit: str, work):
    """What the file commands share (`import`, `catalog import`, `stock receive`): the file must exist, the work
    runs against the database with a progress bar on stderr, a file that cannot be read is exit 2, and rejected
    rows are printed as `第 N 行: 字段: 原因` on stderr by `print_rejected`. `work(db, path, config, progress)` returns
    the command's result; this returns (result, 0), or (None, 2) when there is nothing to report."""
    import asyncio
    from pathlib import Path

    from tqdm import tqdm

    from orderbot.db.engine import Database
    from orderbot.tools.tabular import ImportFileError

    settings = _settings()
    config = _config(settings)
    path = Path(args.file)
    if not path.exists():
        print(f"文件不存在：{path}", file=sys.stderr)
        return None, 2

    async def run():
        db = Database.from_url(settings.database_url)
        try:
            with tqdm(desc=desc, unit=unit, disable=args.quiet, file=sys.stderr) as bar:
                return await work(db, path, config, bar.update)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run()), 0
    except ImportFileError as exc:
        print(f"无法导入 {path}：{exc}", file=sys.stderr)
        return None, 2


def print_rejected(rejected) -> None:
    for label, reason in rejected:
        print(f"{label}: {reason}", file=sys.stderr)
