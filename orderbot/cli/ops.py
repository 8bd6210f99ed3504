"""Operations: labels, the outbox, the alert rules."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orderbot.cli.common import _config, _parse_now, _settings, command_clock


# --- label -------------------------------------------------------------------------------------------------
def cmd_label(args) -> int:
    from orderbot.core.errors import DomainError
    from orderbot.db.engine import Database
    from orderbot.printing.labels import write_labels

    settings = _settings()
    config = _config(settings, example_fallback=True)
    if settings.label_secret is None:
        print("请先设置 ORDERBOT_LABEL_SECRET（标签校验码的密钥）", file=sys.stderr)
        return 2

    async def run() -> int:
        db = Database.from_url(settings.database_url)
        try:
            async with db.read() as session:
                paths = await write_labels(
                    session,
                    args.ref,
                    secret=settings.label_secret.get_secret_value(),
                    config=config,
                    out=Path(args.out) if args.out else None,
                    fmt=args.format,
                    font_cache_dir=settings.cache_dir / "matplotlib",
                )
        except DomainError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        finally:
            await db.dispose()
        for p in paths:
            print(p)
        return 0

    return asyncio.run(run())


# --- outbox ------------------------------------------------------------------------------------------------
def cmd_outbox(args) -> int:
    from orderbot.core import outbox
    from orderbot.core.clock import system_clock
    from orderbot.db.engine import Database

    settings = _settings()

    async def run() -> int:
        db = Database.from_url(settings.database_url)
        try:
            if args.resend:
                async with db.write() as session:
                    done = [i for i in args.resend if await outbox.resend(session, i, system_clock())]
                missing = sorted(set(args.resend) - set(done))
                print(f"已重新排队：{', '.join(map(str, done)) or '无'}")
                if missing:
                    print(f"不是死信或不存在：{', '.join(map(str, missing))}", file=sys.stderr)
                return 1 if missing else 0
            async with db.read() as session:
                rows = await outbox.listing(session, dead=args.dead, limit=args.limit)
                counts = await outbox.counts(session)
        finally:
            await db.dispose()
        print(
            f"待发送 {counts.get('pending', 0)}，已发送 {counts.get('sent', 0)}，死信 {counts.get('dead', 0)}"
            "（时间为本机时区）"
        )
        for r in rows:
            print(_outbox_line(r))
        return 0

    return asyncio.run(run())


def _when(at) -> str:
    return at.astimezone().strftime("%m-%d %H:%M:%S") if at is not None else "—"


def _outbox_line(r) -> str:
    """One message: id, where, attempts, first try, next try (pending only), created, a preview, the reason."""
    preview = (r.payload.get("title") or r.payload.get("text") or r.kind or "").replace("\n", " ")[:40]
    next_try = _when(r.next_attempt_at) if r.state == "pending" else "—"
    line = (
        f"#{r.id}  {r.channel}:{r.destination}  尝试{r.attempts}次  首次尝试 {_when(r.first_attempt_at)}  "
        f"下次尝试 {next_try}  创建 {_when(r.created_at)}  {preview}"
    )
    if r.last_error:
        line += f"\n      原因：{r.last_error}"
    return line


# --- rules ---------------------------------------------------------------------------------------------------
def cmd_rules(args) -> int:
    """Evaluate every alert rule once; one JSON line per alert that fires (or would, with --dry-run)."""
    import json

    from orderbot import bootstrap
    from orderbot.bot.alerting import outcome_lines
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database, sqlite_path
    from orderbot.db.migrate import schema_is_current

    settings = _settings()
    config = _config(settings, example_fallback=True)
    now = _parse_now(args.now) if args.now else command_clock(settings)()  # a demo database: its own day
    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        print(f"数据库文件不存在：{path.resolve()}", file=sys.stderr)
        return 2

    async def run() -> int:
        db = Database.from_url(settings.database_url)
        try:
            if not await schema_is_current(db.engine):
                print("数据库结构不是最新：请先运行 orderbot migrate", file=sys.stderr)
                return 2
            if not args.dry_run:
                async with db.write() as session:
                    await sync_staff(session, config)
            services = bootstrap.build(settings, config, db=db, clock=lambda: now)
            outcomes = await services.rules.evaluate(now=now, trigger="cli", dry_run=args.dry_run)
            await services.close()
        finally:
            await db.dispose()
        for line in outcome_lines(outcomes):
            print(json.dumps(line, ensure_ascii=False), flush=True)
        for o in outcomes:
            print(
                f"{o.rule}: {o.outcome}，{o.subjects} 个对象，值 {o.value if o.value is not None else '—'}，"
                f"{o.ms:.0f} ms",
                file=sys.stderr,
            )
        return 1 if any(o.outcome == "error" for o in outcomes) else 0

    return asyncio.run(run())
