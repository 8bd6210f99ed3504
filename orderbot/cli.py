"""The `orderbot` command. Each subcommand builds what it needs through the same settings and config loaders."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .config import ConfigError, load_config
from .settings import Settings, SettingsError, load_settings

log = logging.getLogger("orderbot")


def _settings(**overrides) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        for name, msg in exc.problems:
            print(f"环境变量 {name}: {msg}", file=sys.stderr)
        raise SystemExit(2) from None


def _config(settings: Settings, required: bool = False, example_fallback: bool = False):
    """The business config. With `example_fallback` (demo, ask, label), a missing file means the example
    company's config, said on stderr, rather than an empty staff list that would make everyone a stranger."""
    from .config import EXAMPLE_CONFIG

    path = settings.config_path
    if example_fallback and not path.exists():
        print(f"（没有 {path}，使用示例配置 {EXAMPLE_CONFIG.name}）", file=sys.stderr)
        path = EXAMPLE_CONFIG
    try:
        return load_config(path, required=required)
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p), file=sys.stderr)
        raise SystemExit(2) from None


# --- migrate -------------------------------------------------------------------------------------------------
def cmd_migrate(args) -> int:
    from .db import make_engine
    from .migrate import upgrade

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
    from .seed import run_seed

    settings = _settings()
    summary = asyncio.run(run_seed(settings.database_url, orders=args.orders, days=args.days, seed=args.seed,
                                   config=_config(settings), progress=not args.quiet))
    print(summary.describe())
    return 1 if getattr(summary, "refused", None) else 0


# --- import --------------------------------------------------------------------------------------------------
def cmd_import(args) -> int:
    from tqdm import tqdm

    from .core.clock import system_clock
    from .db import Database
    from .importer import ImportFileError, import_file

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


# --- check-config --------------------------------------------------------------------------------------------
def cmd_check_config(args) -> int:
    problems = 0
    try:
        config_path = load_settings().config_path
    except SettingsError as exc:
        for name, msg in exc.problems:
            print(f"环境变量 {name}: {msg}")
        problems += len(exc.problems)
        # Still check the business config, so one run shows every problem.
        config_path = Path(os.environ.get("ORDERBOT_CONFIG") or "./orderbot.toml")
    try:
        config = load_config(config_path, required=True)
        print(f"{config_path}: OK（{len(config.staff)} 名员工，{len(config.groups)} 个群，"
              f"{len(config.rules)} 条规则）")
        try:
            for hint in _config_hints(load_settings(), config):
                print(f"提示：{hint}")
        except SettingsError:
            pass  # already reported above
    except ConfigError as exc:
        for p in exc.problems:
            print(str(p))
        problems += len(exc.problems)
        if not Path(config_path).exists():
            print("提示：可以从示例开始：cp orderbot.example.toml orderbot.toml")
    if problems:
        print(f"发现 {problems} 个问题")
        return 1
    print("配置检查通过")
    return 0


def _config_hints(settings: Settings, config) -> list[str]:
    """Things that are not errors but that a person setting up `serve` wants to know: closed doors, owners
    nobody has, topics no group receives."""
    from .core.rules.builtins import RULES
    from .core.rules.engine import rule_config

    hints = []
    wecom = [settings.wecom_corp_id, settings.wecom_token, settings.wecom_encoding_aes_key]
    if any(wecom) and not all(wecom):
        hints.append("企业微信回调需要 WECOM_CORP_ID、WECOM_TOKEN、WECOM_ENCODING_AES_KEY 三项都设置，/wecom/callback 目前关闭")
    if settings.wecom_corp_id and not (settings.wecom_secret and settings.wecom_agent_id is not None):
        hints.append("没有 WECOM_SECRET / WECOM_AGENT_ID：机器人收得到企业微信消息，但无法主动发消息")
    closed = [name for name, value in (("ORDERBOT_LABEL_SECRET（包裹标签校验，扫码会全部失败）", settings.label_secret),
                                       ("ORDERBOT_INGEST_SECRET（/webhooks/orders 关闭）", settings.ingest_secret),
                                       ("TRACKING_WEBHOOK_SECRET（/webhooks/tracking/* 关闭）",
                                        settings.tracking_webhook_secret or settings.tracking_aftership_secret
                                        or settings.tracking_17track_secret),
                                       ("QWEATHER_API_KEY（快递批次按 courier.fail_safe 处理）", settings.qweather_api_key),
                                       ("SMTP_URL（没有邮件通知）", settings.smtp_url)) if value is None]
    if closed:
        hints.append("未设置：" + "；".join(closed))
    staff_ids = {s.id for s in config.staff}
    roles = {r for s in config.staff for r in s.roles}
    for name in RULES:
        owners = rule_config(config, name).owners
        if owners and not (set(owners) & (staff_ids | roles)):
            hints.append(f"规则 {name} 的 owners {owners} 没有对应的员工或角色，告警按钮没人能按")
    if config.courier.owners and not (set(config.courier.owners) & (staff_ids | roles)):
        hints.append(f"courier.owners {config.courier.owners} 没有对应的员工或角色，天气暂停没人收到")
    for key, group in config.groups.items():
        if group.platform == "sandbox":
            hints.append(f"群 {key}（{group.name}）的 platform 是 sandbox：只有 orderbot demo 的网页能看到，"
                         "正式环境请改为 wecom_app（填 chat_id）、wecom_robot（填 webhook_key）或 dingtalk")
        elif group.platform in ("wecom_app", "dingtalk") and not group.chat_id:
            hints.append(f"群 {key}（{group.name}）缺少 chat_id：发给这个群的消息会被跳过")
        elif group.platform == "wecom_robot" and not group.webhook_key:
            hints.append(f"群 {key}（{group.name}）缺少 webhook_key：发给这个群的消息会被跳过")
    if not any([settings.wecom_corp_id, settings.dingtalk_app_key]) and \
            not any(g.platform == "wecom_robot" for g in config.groups.values()):
        hints.append("没有配置任何聊天平台（WECOM_* / DINGTALK_* / 群机器人）：机器人联系不到任何人")
    received = {t for g in config.groups.values() for t in g.receives}
    for topic in ("daily_report", "customs_stuck", "scan_exception", "weather"):
        if topic not in received:
            hints.append(f"没有群接收 {topic}")
    return hints


# --- serve / demo --------------------------------------------------------------------------------------------
async def _serve(settings: Settings, config, host: str, port: int, *, banner: str = "", demo: bool = False,
                 clock=None) -> int:
    from aiohttp import web

    from .app import create_app
    from .core.staff import sync_staff
    from .db import Database
    from .migrate import current_revision, head_revision

    db = Database.from_url(settings.database_url)
    try:
        current = await current_revision(db.engine)
        if current != head_revision():
            print(f"数据库结构不是最新（当前 {current or '空'}，需要 {head_revision()}）：请先运行 orderbot migrate",
                  file=sys.stderr)
            return 2
        async with db.write() as session:
            await sync_staff(session, config)
        app = create_app(settings, config=config, db=db, demo=demo, run_scheduler=True, clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        print(banner or f"OrderBot listening on http://{host}:{port}/", flush=True)
        if not demo:  # what is closed or unreachable, said once at start rather than discovered later
            for hint in _config_hints(settings, config):
                print(f"提示：{hint}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()
    finally:
        await db.dispose()
    return 0


def cmd_serve(args) -> int:
    settings = _settings()
    # The staff directory comes from the config: serving without it would deactivate everyone.
    return asyncio.run(_serve(settings, _config(settings, required=True), args.host or settings.host,
                              args.port or settings.port))


def cmd_demo(args) -> int:
    from .db import make_engine
    from .migrate import upgrade
    from .seed import run_seed

    from .config import EXAMPLE_CONFIG

    db_path = Path(args.db).resolve()
    settings = _settings(ORDERBOT_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}")
    overrides: dict = {"ORDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    if not settings.config_path.exists():  # the demo plays the example company's staff and groups
        overrides["ORDERBOT_CONFIG"] = EXAMPLE_CONFIG
    if settings.label_secret is None:  # so the demo's labels and scans work without any setup
        overrides["ORDERBOT_LABEL_SECRET"] = "orderbot-demo-labels"
    settings = _settings(**overrides)
    config = _config(settings)

    async def run():
        from .demo_clock import OffsetClock

        fresh = not db_path.exists()
        state = db_path.with_name(db_path.name + ".clock.json")  # how far the sandbox page fast-forwarded
        if fresh:
            state.unlink(missing_ok=True)
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        if fresh:
            summary = await run_seed(settings.database_url, orders=args.orders, days=30, seed=7, config=config,
                                     progress=True)
            print(summary.describe())
        # The demo's own clock: the wall clock plus however far the sandbox page has fast-forwarded.
        return await _serve(settings, config, "127.0.0.1", args.port, demo=True, clock=OffsetClock(state=state),
                            banner=f"OrderBot demo on http://127.0.0.1:{args.port}/  (database {db_path})")

    return asyncio.run(run())


# --- parse -------------------------------------------------------------------------------------------------
def _parse_now(value: str | None):
    from datetime import datetime, timezone
    from zoneinfo import ZoneInfo

    if not value:
        return datetime.now(timezone.utc)
    try:
        now = datetime.fromisoformat(value)
    except ValueError:
        raise SystemExit(f"--now 不是 ISO-8601 时间：{value}") from None
    return now if now.tzinfo else now.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


async def _vocabulary(settings: Settings):
    """Master data from the database when it is there and migrated; the static vocabulary otherwise."""
    from sqlalchemy.exc import SQLAlchemyError

    from .bot.intents import Vocabulary, load_vocabulary
    from .db import Database, sqlite_path

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():  # do not create an empty database file just to read it
        return Vocabulary.static()
    db = Database.from_url(settings.database_url)
    try:
        async with db.read() as session:
            return await load_vocabulary(session)
    except (SQLAlchemyError, OSError):
        return Vocabulary.static()
    finally:
        await db.dispose()


def cmd_parse(args) -> int:
    from .bot.intents import IntentParser, main_parse

    settings = _settings()
    now = _parse_now(args.now)
    parser = IntentParser(asyncio.run(_vocabulary(settings)), cache_dir=settings.cache_dir)
    texts = [args.text] if args.text else sys.stdin
    for line in main_parse(texts, now, parser):
        print(line, flush=True)
    return 0


# --- ask ---------------------------------------------------------------------------------------------------
def cmd_ask(args) -> int:
    settings = _settings()
    config = _config(settings, example_fallback=True)
    return asyncio.run(_ask(settings, config, args.user, args.text, Path(args.out)))


async def _ask(settings: Settings, config, user: str, text: str, out: Path) -> int:
    """The whole path a chat message takes (pipeline, dispatcher, handlers, outbox) with the sandbox as chat."""
    import functools
    from datetime import datetime, timezone

    from .app import build_parser
    from .bot.channels.text import reply_plain
    from .bot.charts import chart_executor, ensure_cjk_font, render_async
    from .bot.dispatch import Dispatcher
    from .bot.inbound import ChatMessage, Origin
    from .bot.pipeline import InboundPipeline
    from .core.clock import system_clock
    from .core.staff import sync_staff
    from .db import Database
    from .db import sqlite_path
    from .migrate import schema_is_current

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        print(f"数据库文件不存在：{path.resolve()}（ORDERBOT_DATABASE_URL 里的相对路径按当前目录计算）", file=sys.stderr)
        return 2
    db = Database.from_url(settings.database_url)
    executor = chart_executor()
    try:
        if not await schema_is_current(db.engine):
            print("数据库结构不是最新：请先运行 orderbot migrate", file=sys.stderr)
            return 2
        async with db.write() as session:
            await sync_staff(session, config)
        await asyncio.to_thread(ensure_cjk_font, None, cache_dir=settings.cache_dir / "matplotlib")
        parser = await build_parser(db, settings)
        dispatcher = Dispatcher(db, parser, config, system_clock,
                                charts=functools.partial(render_async, executor=executor))
        pipeline = InboundPipeline(db, dispatcher, system_clock)
        now = datetime.now(timezone.utc)
        origin = Origin("sandbox", user, None, reply_channel="sandbox", reply_to=f"user:{user}")
        processed = await pipeline.process(ChatMessage(origin, text, f"ask:{now.timestamp()}", now))
    finally:
        executor.shutdown(wait=True)
        await db.dispose()
    reply = processed.reply if processed else None
    if reply is None:
        print("（没有回复）")
        return 0
    print(reply_plain(reply))
    if reply.card and reply.card.buttons:
        print("按钮：" + "  ".join(f"[{b.text}] {b.key}" for b in reply.card.buttons))
    out.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%d-%H%M%S")
    for i, chart in enumerate(reply.charts, 1):
        path = out / f"chart-{stamp}-{i}.png"
        path.write_bytes(chart.png)
        print(f"图表：{path}")
    for f in reply.files:
        path = out / f.filename
        path.write_bytes(f.content)
        print(f"文件：{path}")
    return 0


# --- label -------------------------------------------------------------------------------------------------
def cmd_label(args) -> int:
    from .core.errors import DomainError
    from .db import Database
    from .labels import write_labels

    settings = _settings()
    config = _config(settings, example_fallback=True)
    if settings.label_secret is None:
        print("请先设置 ORDERBOT_LABEL_SECRET（标签校验码的密钥）", file=sys.stderr)
        return 2

    async def run() -> int:
        db = Database.from_url(settings.database_url)
        try:
            async with db.read() as session:
                paths = await write_labels(session, args.ref, secret=settings.label_secret.get_secret_value(),
                                           config=config, out=Path(args.out) if args.out else None,
                                           fmt=args.format, font_cache_dir=settings.cache_dir / "matplotlib")
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
    from .core import outbox
    from .core.clock import system_clock
    from .db import Database

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
        print(f"待发送 {counts.get('pending', 0)}，已发送 {counts.get('sent', 0)}，死信 {counts.get('dead', 0)}")
        for r in rows:
            preview = (r.payload.get("title") or r.payload.get("text") or r.kind or "").replace("\n", " ")[:40]
            line = f"#{r.id}  {r.channel}:{r.destination}  尝试{r.attempts}次  {r.created_at:%Y-%m-%d %H:%M}  {preview}"
            if r.last_error:
                line += f"\n      原因：{r.last_error}"
            print(line)
        return 0

    return asyncio.run(run())


# --- copy-db -------------------------------------------------------------------------------------------------
def cmd_copy_db(args) -> int:
    """Everything from one database into an empty other one (SQLite → PostgreSQL)."""
    from .copydb import TargetNotEmpty, copy_database

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


# --- rules ---------------------------------------------------------------------------------------------------
def cmd_rules(args) -> int:
    """Evaluate every alert rule once; one JSON line per alert that fires (or would, with --dry-run)."""
    import json

    from .bot.alerting import RulesRunner, outcome_lines
    from .core.staff import sync_staff
    from .db import Database, sqlite_path
    from .migrate import schema_is_current

    settings = _settings()
    config = _config(settings, example_fallback=True)
    now = _parse_now(args.now)
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
            outcomes = await RulesRunner(db, config, lambda: now).evaluate(
                now=now, trigger="cli", dry_run=args.dry_run)
        finally:
            await db.dispose()
        for line in outcome_lines(outcomes):
            print(json.dumps(line, ensure_ascii=False), flush=True)
        for o in outcomes:
            print(f"{o.rule}: {o.outcome}，{o.subjects} 个对象，值 {o.value if o.value is not None else '—'}，"
                  f"{o.ms:.0f} ms", file=sys.stderr)
        return 1 if any(o.outcome == "error" for o in outcomes) else 0

    return asyncio.run(run())


# --- bench ---------------------------------------------------------------------------------------------------
def cmd_bench(args) -> int:
    from .bench import run_bench

    return asyncio.run(run_bench(orders=args.orders, out=Path(args.out), only=args.only, pg_url=args.pg_url))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="orderbot", description="OrderBot: the order nerve centre inside WeCom and "
                                "DingTalk. Settings come from the environment and .env; see .env.example.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="seed a SQLite file with demo data and serve the sandbox")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--db", default="./orderbot-demo.db", help="SQLite file (seeded if it does not exist)")
    s.add_argument("--orders", type=int, default=20_000, help="orders to seed into a new demo database")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("serve", help="the webhook server (refuses to start on an old schema)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("migrate", help="bring the database schema to the latest version")
    s.set_defaults(func=cmd_migrate)

    s = sub.add_parser("seed", help="deterministic synthetic business data")
    s.add_argument("--orders", type=int, required=True)
    s.add_argument("--days", type=int, default=90, help="spread orders over the last D days (default 90)")
    s.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_seed)

    s = sub.add_parser("import", help="orders from .jsonl, .csv or .xlsx; bad rows reported, good rows loaded")
    s.add_argument("file")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_import)

    s = sub.add_parser("check-config", help="validate the environment and the business config file")
    s.set_defaults(func=cmd_check_config)

    s = sub.add_parser("ask", help="run a message through the whole bot and print the reply (charts saved as PNG)")
    s.add_argument("--as", dest="user", default="wanglei", help="staff id from the business config (default wanglei)")
    s.add_argument("--out", default=".", help="folder for chart images and files (default: here)")
    s.add_argument("text")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("label", help="the QR labels of an order, one per package, as PNG or PDF")
    s.add_argument("ref", help="order number, channel order id or tracking number")
    s.add_argument("--out", help="a folder (PNG, one file per package), or a .png / .pdf file name")
    s.add_argument("--format", choices=["png", "pdf"], help="default: from --out, else png")
    s.set_defaults(func=cmd_label)

    s = sub.add_parser("parse", help="one INTENTS.md JSON line per text; reads stdin when no TEXT is given")
    s.add_argument("--now", help="the current time, ISO-8601 (default: the wall clock; naive = Asia/Shanghai)")
    s.add_argument("text", nargs="?")
    s.set_defaults(func=cmd_parse)

    s = sub.add_parser("outbox", help="what waits to be sent, and what could not be sent, with the reason")
    s.add_argument("--dead", action="store_true", help="list dead messages (gave up) instead of pending ones")
    s.add_argument("--resend", type=int, nargs="+", metavar="ID", help="put dead messages back in the queue")
    s.add_argument("--limit", type=int, default=200)
    s.set_defaults(func=cmd_outbox)

    s = sub.add_parser("copy-db", help="copy every row into an empty database (e.g. SQLite → PostgreSQL)")
    s.add_argument("--from", dest="source", help="source URL (default: ORDERBOT_DATABASE_URL)")
    s.add_argument("--to", required=True, help="target URL, e.g. postgresql+asyncpg://user:pw@host/orderbot")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_copy_db)

    s = sub.add_parser("rules", help="evaluate every alert rule once; one JSON line per alert that fires")
    s.add_argument("--now", help="evaluate as of this time, ISO-8601 (naive = Asia/Shanghai; default: now)")
    s.add_argument("--dry-run", action="store_true", help="show what would fire; change and send nothing")
    s.set_defaults(func=cmd_rules)

    s = sub.add_parser("bench", help="run the benchmark suite, print a table, write JSON")
    s.add_argument("--orders", type=int, default=1_000_000)
    s.add_argument("--out", default="bench-results.json")
    s.add_argument("--only", action="append", help="run only benchmarks whose name starts with this")
    s.add_argument("--pg-url", help="also run the PostgreSQL figures against this database URL")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("alembic", "matplotlib", "jieba", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    return args.func(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())
