"""The `orderbot` command: one module per command group; each command builds what it needs through the same
settings and config loaders (`common`)."""

from __future__ import annotations

import argparse
import logging
import sys

from orderbot.cli.bench import cmd_bench
from orderbot.cli.chat import cmd_ask, cmd_parse
from orderbot.cli.config import cmd_check_config
from orderbot.cli.data import cmd_copy_db, cmd_import, cmd_migrate, cmd_seed
from orderbot.cli import masterdata
from orderbot.cli.ops import cmd_label, cmd_outbox, cmd_rules
from orderbot.cli.server import cmd_demo, cmd_serve, time_of_day


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="orderbot",
        description="OrderBot: the order nerve centre inside WeCom and "
        "DingTalk. Settings come from the environment and .env; see .env.example.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("demo", help="seed a SQLite file with demo data and serve the sandbox")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; others warn: the page has no login)",
    )
    s.add_argument("--db", default="./orderbot-demo.db", help="SQLite file (seeded if it does not exist)")
    s.add_argument("--orders", type=int, default=20_000, help="orders to seed into a new demo database")
    s.add_argument(
        "--start",
        type=time_of_day,
        metavar="HH:MM",
        help="a new demo database starts its clock at the next HH:MM local time (e.g. 10:00 for a working "
        "morning), seeded up to then; default: now",
    )
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

    masterdata.add_parsers(sub)

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


# Commands that read or write the business tables: checked for a current schema before they start, so an
# unmigrated database is one line ("run orderbot migrate"), never a driver traceback or an empty file made.
# (`copy-db` checks its --from source itself; `demo` migrates its own file.)
NEEDS_SCHEMA = frozenset({"serve", "import", "ask", "label", "outbox", "rules", "catalog", "stock"})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("alembic", "matplotlib", "jieba", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    if args.command in NEEDS_SCHEMA:
        from orderbot.cli.common import _settings, require_schema

        require_schema(_settings())
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:  # Ctrl-C: the command has said what it undid (seed); no traceback, the shell's 130
        return 130
