"""`orderbot serve` and `orderbot demo`: the web app, scheduler and outbox worker in one process."""
from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from orderbot.cli.common import _config, _settings
from orderbot.cli.config import _config_hints
from orderbot.settings import Settings


# --- serve / demo --------------------------------------------------------------------------------------------
async def _serve(settings: Settings, config, host: str, port: int, *, banner: str = "", demo: bool = False,
                 clock=None) -> int:
    from aiohttp import web

    from orderbot.app import create_app
    from orderbot.core.catalog.carriers import sync_carriers
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database
    from orderbot.db.migrate import current_revision, head_revision

    db = Database.from_url(settings.database_url)
    try:
        current = await current_revision(db.engine)
        if current != head_revision():
            print(f"数据库结构不是最新（当前 {current or '空'}，需要 {head_revision()}）：请先运行 orderbot migrate",
                  file=sys.stderr)
            return 2
        async with db.write() as session:
            await sync_staff(session, config)
            await sync_carriers(session, config)
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
    from orderbot.db.engine import make_engine
    from orderbot.db.migrate import upgrade
    from orderbot.tools.seed import run_seed

    from orderbot.config import EXAMPLE_CONFIG
    from orderbot.sandbox.secrets import isolate

    db_path = Path(args.db).resolve()
    settings = _settings(ORDERBOT_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}")
    overrides: dict = {"ORDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    if not settings.config_path.exists():  # the demo plays the example company's staff and groups
        overrides["ORDERBOT_CONFIG"] = EXAMPLE_CONFIG
    # Never the company's secrets or platform accounts, even beside a production .env (issue 13, item 13).
    settings, ignored = isolate(_settings(**overrides), db_path)
    config = _config(settings)
    print("演示模式：使用演示自己的标签密钥（保存在演示数据库旁），不使用环境中的任何平台凭据或密钥"
          + (f"；已忽略：{', '.join(ignored)}" if ignored else ""), flush=True)

    async def run():
        from orderbot.sandbox.clock import OffsetClock

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
