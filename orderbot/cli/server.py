"""`orderbot serve` and `orderbot demo`: the web app, scheduler and outbox worker in one process."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import socket
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

from orderbot.cli.common import _config, _settings
from orderbot.cli.config import _config_hints
from orderbot.settings import Settings

# Twice the longest comparison window (the 30-day trend against the 30 days before), so every "上期" is real.
DEMO_DAYS = 60


# --- serve / demo --------------------------------------------------------------------------------------------
async def _serve(
    settings: Settings,
    config,
    host: str,
    port: int,
    *,
    banner: str = "",
    demo: bool = False,
    clock=None,
    sock: socket.socket | None = None,
) -> int:
    from aiohttp import web

    from orderbot.app import create_app, freeze_startup_heap
    from orderbot.core.catalog.carriers import sync_carriers
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database
    from orderbot.db.migrate import current_revision, head_revision

    db = Database.from_url(settings.database_url)
    try:
        current = await current_revision(db.engine)
        if current != head_revision():
            print(
                f"数据库结构不是最新（当前 {current or '空'}，需要 {head_revision()}）：请先运行 orderbot migrate",
                file=sys.stderr,
            )
            return 2
        async with db.write() as session:
            await sync_staff(session, config)
            await sync_carriers(session, config)
        app = create_app(settings, config=config, db=db, demo=demo, run_scheduler=True, clock=clock)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        freeze_startup_heap()
        # The demo binds its socket before anything starts (see cmd_demo); serve binds here.
        await (web.SockSite(runner, sock) if sock is not None else web.TCPSite(runner, host, port)).start()
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
        if sock is not None:
            sock.close()
    return 0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_or_explain(host: str, port: int) -> socket.socket:
    """The demo's listening socket, bound before the database, the seed or the scheduler is touched; a port in
    use (or a host that cannot be bound) is one line and exit 2, with nothing started."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        print(f"无法解析地址 {host}：{exc.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what aiohttp does: a TIME_WAIT port is free
    try:
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
            print(f"端口 {port} 已被占用：orderbot demo --port {port + 1}", file=sys.stderr)
        else:
            print(f"无法监听 {host}:{port}：{exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(2) from None
    sock.setblocking(False)
    return sock


def local_url(sock: socket.socket) -> str:
    """The address this process reaches its own listening socket at (a wildcard bind is reached on loopback)."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def time_of_day(text: str) -> str:
    """argparse type for HH:MM (00:00–23:59), returned as HH:MM."""
    try:
        hh, mm = (int(x) for x in text.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"时间应写成 HH:MM（例如 10:00），而不是 {text!r}") from None
    return f"{hh:02d}:{mm:02d}"


def cmd_serve(args) -> int:
    settings = _settings()
    # The staff directory comes from the config: serving without it would deactivate everyone.
    return asyncio.run(
        _serve(settings, _config(settings, required=True), args.host or settings.host, args.port or settings.port)
    )


def cmd_demo(args) -> int:
    from orderbot.db.engine import make_engine
    from orderbot.db.migrate import upgrade
    from orderbot.tools.seed import run_seed

    from orderbot.config import EXAMPLE_CONFIG
    from orderbot.sandbox.secrets import isolate, with_fake_wecom

    db_path = Path(args.db).resolve()
    settings = _settings(ORDERBOT_DATABASE_URL=f"sqlite+aiosqlite:///{db_path}")
    overrides: dict = {"ORDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db_path}"}
    own_config = settings.config_path
    if not own_config.exists():  # the demo plays the example company's staff and groups
        overrides["ORDERBOT_CONFIG"] = EXAMPLE_CONFIG
    settings = _settings(**overrides)
    config = _config(settings)
    host = args.host
    if not is_loopback(host):  # the page has no login: anyone who reaches it can act as anyone
        print(
            f"警告：演示页面没有登录，监听 {host} 后同一网络里的任何人都能以任何员工身份操作它。"
            "只在可信网络里这样做 | warning: the demo page has no login and is reachable beyond this machine",
            file=sys.stderr,
        )
    # Before anything is written (the label secret, the database) or started (migration, seed, scheduler).
    sock = bind_or_explain(host, args.port)
    if "ORDERBOT_CONFIG" in overrides:
        print(f"（没有 {own_config}，使用示例配置 {EXAMPLE_CONFIG.name}）", file=sys.stderr)
    # Never the company's secrets or platform accounts, even beside a production .env (issue 13, item 13).
    settings, ignored = isolate(settings, db_path)
    settings = with_fake_wecom(settings, local_url(sock))  # the AI-bot group talks to the demo's own fake WeCom
    print(
        "演示模式：使用演示自己的标签密钥（保存在演示数据库旁），不使用环境中的任何平台凭据或密钥"
        + (f"；已忽略：{', '.join(ignored)}" if ignored else ""),
        flush=True,
    )

    async def run():
        from orderbot.sandbox.clock import OffsetClock, clock_file, next_local

        fresh = not db_path.exists()
        state = clock_file(db_path)  # how far the sandbox page fast-forwarded
        if fresh:
            state.unlink(missing_ok=True)
        clock = OffsetClock(state=state)  # the offset a restarted demo had reached, none for a new one
        if fresh and args.start:  # the company is seeded up to the chosen hour and the page opens there
            clock.jump_to(next_local(clock(), ZoneInfo(config.timezone), [args.start]))
        elif args.start:
            print("演示数据库已存在，时钟沿用上次的时间（--start 只对新的演示数据库生效）", flush=True)
        engine = make_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        if fresh:
            summary = await run_seed(
                settings.database_url,
                orders=args.orders,
                days=DEMO_DAYS,
                seed=7,
                config=config,
                progress=True,
                now=clock(),
            )
            print(summary.describe())
        # The demo's own clock: the wall clock plus however far the sandbox page has fast-forwarded.
        shown = f"[{host}]" if ":" in host else host
        banner = f"OrderBot demo on http://{shown}:{args.port}/  (database {db_path})"
        if host in ("0.0.0.0", "::"):  # a wildcard is no address to open: this machine, and its name for others
            banner = (
                f"OrderBot demo on {local_url(sock)}/  (database {db_path})\n"
                f"其他电脑：http://{socket.gethostname()}:{args.port}/（或本机的局域网 IP）"
            )
        return await _serve(
            settings,
            config,
            host,
            args.port,
            demo=True,
            clock=clock,
            sock=sock,
            banner=banner,
        )

    try:
        return asyncio.run(run())
    finally:
        sock.close()
