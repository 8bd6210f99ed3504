"""`orderbot parse` and `orderbot ask`: the parser alone, and a message through the whole bot."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from orderbot.cli.common import _config, _parse_now, _settings, command_clock
from orderbot.settings import Settings


# --- parse -------------------------------------------------------------------------------------------------


async def _vocabulary(settings: Settings):
    """Staff, customers and products of the database `ORDERBOT_DATABASE_URL` names, when it is set (in the
    environment or `.env`) and the database is there and migrated; the built-in vocabulary otherwise."""
    from sqlalchemy.exc import SQLAlchemyError

    from orderbot.bot.intents import Vocabulary, load_vocabulary
    from orderbot.db.engine import Database, sqlite_path

    if "database_url" not in settings.model_fields_set:
        return Vocabulary.static()
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
    from orderbot.bot.intents import IntentParser, main_parse

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
    from orderbot import bootstrap
    from orderbot.core.catalog.carriers import sync_carriers
    from orderbot.core.staff import sync_staff
    from orderbot.db.engine import Database, sqlite_path
    from orderbot.db.migrate import schema_is_current
    from orderbot.messaging.inbound import ChatMessage, Origin
    from orderbot.messaging.pipeline import PassiveAnswer
    from orderbot.messaging.senders.sandbox import SandboxSender
    from orderbot.messaging.text import reply_plain

    path = sqlite_path(settings.database_url)
    if path is not None and not path.exists():
        print(
            f"数据库文件不存在：{path.resolve()}（ORDERBOT_DATABASE_URL 里的相对路径按当前目录计算）", file=sys.stderr
        )
        return 2
    clock = command_clock(settings)  # a demo database answers for the day its sandbox page shows
    services = bootstrap.build(
        settings,
        config,
        db=Database.from_url(settings.database_url),
        clock=clock,
        senders={"sandbox": SandboxSender(clock)},
    )
    services.owns_db = True
    try:
        if not await schema_is_current(services.db.engine):
            print("数据库结构不是最新：请先运行 orderbot migrate", file=sys.stderr)
            return 2
        async with services.db.write() as session:
            await sync_staff(session, config)
            await sync_carriers(session, config)
        await services.start()
        now = clock()
        origin = Origin("sandbox", user, None, reply_channel="sandbox", reply_to=f"user:{user}")
        event = ChatMessage(origin, text, f"ask:{now.timestamp()}", now)
        inbox_id = await services.pipeline.accept(event)
        # The answer is this terminal's: stored as sent (the record), never delivered to the sandbox page, where it
        # would stand in the person's chat with no question above it. What it causes (group notices) goes out.
        answered = PassiveAnswer(lambda reply: True)
        processed = await services.pipeline.run(inbox_id, event, urgent=True, answer=answered) if inbox_id else None
    finally:
        await services.close()
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
