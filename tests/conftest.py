"""Test fixtures: every database test runs on SQLite and on PostgreSQL over real connections.

PostgreSQL comes from ORDERBOT_TEST_PG_URL (set by .ci/run); when it is unset locally those cases skip with a
reason. Each session migrates one template (a SQLite file, a PostgreSQL schema) once; each test gets a copy of
the SQLite file or a truncated schema, so tests never see each other's rows. A seeded world that many tests
start from is written once per session and copied into each test's database (`snapshots`).
"""

from __future__ import annotations

import asyncio
import gc
import graphlib
import os
import shutil
import sqlite3
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, UTC
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from orderbot.config import BusinessConfig, parse_config
from orderbot.core.clock import ManualClock
from orderbot.db.engine import Database, make_engine, sqlite_path
from orderbot.db.migrate import upgrade

PG_URL = os.environ.get("ORDERBOT_TEST_PG_URL")
# ORDERBOT_SQLITE_DRIVER=stock runs the SQLite cases on SQLAlchemy's stock aiosqlite driver (the fallback).
SQLITE_DRIVER = os.environ.get("ORDERBOT_SQLITE_DRIVER") or None
LAYERS = ("unit", "integration", "e2e")


def pytest_configure(config):
    """The collector's youngest generation is collected every 10,000 new objects instead of CPython's 700. A test
    builds apps, engines and sessions that live for milliseconds to seconds; at 700 many of them survived two
    young collections and went to the old generation, whose full passes over a heap of a million objects (the
    modules, the parsers' dictionaries) took 10–15 s of a serial run of the fast loop; at 10,000 most die young
    (about 3 s, the same peak memory). The app's own processes keep CPython's default."""
    gc.set_threshold(10_000, 10, 10)


def pytest_collection_modifyitems(config, items):
    """Markers from where a test is and what it runs on: `unit`/`integration`/`e2e` from its folder, `pg` for
    every case parametrised onto PostgreSQL (`-m "not pg"` is the SQLite-only loop)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        for layer in LAYERS:
            if layer in parts:
                item.add_marker(layer)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker("pg")


def release_apps() -> None:
    """Let go of the aiohttp apps the last test built. aiohttp (3.8 up to 3.14, the version this was measured on)
    caches each route's middleware chain in a module-level `functools.lru_cache(maxsize=1024)` keyed by the
    handler and the app, so a session that builds an app per test kept the last 1,024 apps alive with their
    databases, engines and configs: a heap the garbage collector walked again and again (a quarter of the e2e
    layer's CPU time). The cache is a private name: when aiohttp renames or drops it this does nothing, and
    tests/integration/test_harness.py, which checks that an app is released, says whether that still holds."""
    web_app = sys.modules.get("aiohttp.web_app")
    cache = getattr(web_app, "_cached_build_middleware", None)
    if callable(getattr(cache, "cache_clear", None)):
        cache.cache_clear()


def pytest_runtest_teardown(item, nextitem):
    release_apps()


EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "orderbot.example.toml"
T0 = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def _pg_schema_url(schema: str) -> tuple[str, dict]:
    return PG_URL, {"server_settings": {"search_path": schema}}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"

    async def run():
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await engine.dispose()

    asyncio.run(run())
    return path


def create_pg_schema(label: str) -> str:
    """A new PostgreSQL schema migrated to head. Its name carries the pytest-xdist worker (each worker is its own
    session): t_gw0_…, t_gw1_…, or t_main_… in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    schema = f"{label}_{worker}_{uuid.uuid4().hex[:10]}"

    async def setup():
        admin = create_async_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await admin.dispose()
        engine = create_async_engine(PG_URL, connect_args=_pg_schema_url(schema)[1])
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(setup())
    return schema


def drop_pg_schema(schema: str) -> None:
    async def teardown():
        admin = create_async_engine(PG_URL)
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()

    asyncio.run(teardown())


@pytest.fixture(scope="session")
def pg_schema():
    if not PG_URL:
        pytest.skip("ORDERBOT_TEST_PG_URL is not set: PostgreSQL cases skip locally (CI always runs them)")
    schema = create_pg_schema("t")
    yield schema
    drop_pg_schema(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url_info(request, tmp_path, sqlite_template):
    """(url, connect_args) of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}", {}
    schema = request.getfixturevalue("pg_schema")
    return _pg_schema_url(schema)


def pg_engine(url: str, connect_args: dict):
    return create_async_engine(url, connect_args=connect_args, pool_size=20, max_overflow=10)


def open_database(url: str, connect_args: dict) -> Database:
    """A `Database` on a test database from `db_url_info` (or a module's own world of the same shape)."""
    if url.startswith("sqlite"):
        return Database.from_url(url, driver=SQLITE_DRIVER)
    return Database(pg_engine(url, connect_args))


class PgEmptier:
    """Empties a migrated PostgreSQL schema between tests and restarts its sequences, as `TRUNCATE … RESTART
    IDENTITY` would, but only where a test left rows: one query finds the non-empty tables, which are deleted
    from children first (the foreign keys' order, read once from the catalogue). A TRUNCATE of every table
    rewrites each table's files and costs about a second per test on a shared machine; a DELETE of a few rows
    costs milliseconds."""

    def __init__(self, tables: list[str]):
        self.tables = tables  # children before parents
        self.probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)

    @classmethod
    async def load(cls, conn) -> PgEmptier:
        names = [
            n
            for (n,) in await conn.execute(
                text(
                    "SELECT tablename FROM pg_tables "
                    "WHERE schemaname = current_schema() AND tablename <> 'alembic_version'"
                )
            )
        ]
        edges = await conn.execute(
            text(
                "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c "
                "JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()"
            )
        )
        referenced_by = graphlib.TopologicalSorter({n: set() for n in names})
        for child, parent in edges:
            child, parent = child.strip('"'), parent.strip('"')
            if child != parent:  # a table's reference to itself goes in the same DELETE
                referenced_by.add(parent, child)  # the parent comes after every table that references it
        return cls(list(referenced_by.static_order()))

    async def empty(self, conn) -> None:
        full = {t for (t,) in await conn.execute(text(self.probe))}
        for table in self.tables:
            if table in full:
                await conn.execute(text(f'DELETE FROM "{table}"'))
        await conn.execute(
            text(
                "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) FROM pg_sequences "
                "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
            )
        )


_EMPTIERS: dict[str, PgEmptier] = {}  # schema -> its emptier (the tables are fixed once migrated)


@pytest.fixture
async def db(db_url_info):
    url, connect_args = db_url_info
    database = open_database(url, connect_args)
    if not url.startswith("sqlite"):
        async with database.engine.begin() as conn:
            schema = connect_args["server_settings"]["search_path"]
            if schema not in _EMPTIERS:
                _EMPTIERS[schema] = await PgEmptier.load(conn)
            await _EMPTIERS[schema].empty(conn)
    yield database
    await database.dispose()


def _sqlite_backup(source: Path, target: Path) -> None:
    """Copy a SQLite database into another, page by page (SQLite's backup API: committed rows, WAL included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


class Snapshots:
    """Seeded worlds, written once per session and database kind and copied into each test's empty database.

    `await snapshots.seed(db, key, seed)` fills a test's empty `db` (from the `db` fixture) with what `seed()`
    writes. The first call for a key runs `seed()` and keeps a copy of the result; later calls copy it in: the
    same rows with the same ids, without the ORM work that is most of the setup of a test that seeds a few
    orders. SQLite: a copy of the file, restored with SQLite's backup API. PostgreSQL: the non-empty tables
    copied into a schema of their own (`CREATE TABLE … AS SELECT`) and the sequences' values, restored into the
    emptied schema by one statement (INSERT … SELECT per table, parents first, then setval). Only for a seed
    that depends on its key alone (a fixed clock, the example config) and leaves nothing behind but rows."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.files: dict[str, Path] = {}  # key -> the seeded SQLite file
        self.pg: dict[tuple[str, str], tuple[str, str]] = {}  # (test schema, key) -> (snapshot schema, restore)

    async def seed(self, db: Database, key: str, seed: Callable[[], Awaitable[object]]) -> None:
        path = sqlite_path(db.engine.url)
        if path is not None:
            if key in self.files:
                _sqlite_backup(self.files[key], path)
                return
            await seed()
            self.files[key] = self.directory / f"{len(self.files)}.db"
            _sqlite_backup(path, self.files[key])
            return
        async with db.engine.begin() as conn:
            schema = (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            if (schema, key) in self.pg:
                await conn.exec_driver_sql(self.pg[(schema, key)][1])
                return
        await seed()
        snapshot = f"{schema}_s{uuid.uuid4().hex[:8]}"
        async with db.engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{snapshot}"'))
            restore = []
            for table in reversed(_EMPTIERS[schema].tables):  # parents first
                if (await conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{table}")'))).scalar():
                    await conn.execute(text(f'CREATE TABLE "{snapshot}"."{table}" AS SELECT * FROM "{table}"'))
                    restore.append(f'INSERT INTO "{table}" SELECT * FROM "{snapshot}"."{table}";')
            sequences = await conn.execute(
                text(
                    "SELECT sequencename, last_value FROM pg_sequences "
                    "WHERE schemaname = current_schema() AND last_value IS NOT NULL"
                )
            )
            restore += [f'PERFORM setval(\'"{schema}"."{name}"\', {value}, true);' for name, value in sequences]
        self.pg[(schema, key)] = (snapshot, "DO $$ BEGIN " + " ".join(restore) + " END $$")

    def drop(self) -> None:
        for snapshot, _ in self.pg.values():
            drop_pg_schema(snapshot)


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory):
    """The session's seeded worlds (see `Snapshots`)."""
    kept = Snapshots(tmp_path_factory.mktemp("snapshots"))
    yield kept
    kept.drop()


@pytest.fixture(scope="session")
def jieba_cache(tmp_path_factory) -> Path:
    """The session's jieba cache directory for parsers whose tests are not about the cache: the first parser
    builds jieba's prefix dictionary (≈0.7 s) and writes it there, the others load it (≈0.2 s). It holds jieba's
    own dictionary only; each parser adds its vocabulary's words after loading."""
    return tmp_path_factory.mktemp("jieba")


@pytest.fixture(scope="session")
def static_parser(tmp_path_factory, jieba_cache):
    """The parser over the built-in example vocabulary, built once per session (jieba's dictionary load and the
    warm-up cost seconds), with the CJK chart font in place for handlers that draw."""
    from orderbot.bot.charts import ensure_cjk_font
    from orderbot.bot.intents import IntentParser, Vocabulary

    ensure_cjk_font(cache_dir=tmp_path_factory.mktemp("mpl"))
    return IntentParser(Vocabulary.static(), cache_dir=jieba_cache)


@pytest.fixture(scope="session")
def corpus_parser(jieba_cache):
    """The parser over the corpus's master data (tests/intents/support.py), built once per session."""
    from tests.intents.support import make_parser

    return make_parser(jieba_cache)


@pytest.fixture
def config() -> BusinessConfig:
    return parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"), str(EXAMPLE_CONFIG))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


class SmtpInbox:
    """What a local aiosmtpd server received: (recipients, raw message) pairs."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp():
    """A real local SMTP server (aiosmtpd) and its URL."""
    import socket

    from aiosmtpd.controller import Controller

    inbox = SmtpInbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
async def wecom(clock):
    """The local fake WeCom over real HTTP: (fake, {"wecom": app sender, "wecom_robot": robot sender}, api)."""
    import aiohttp
    from aiohttp.test_utils import TestServer

    from orderbot.messaging.senders.wecom import WeComApi, WeComAppSender, WeComRobotSender

    from .fakes.wecom import FakeWeCom

    fake = FakeWeCom(clock=lambda: clock().timestamp())
    server = TestServer(fake.app())
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        base = str(server.make_url("")).rstrip("/")
        api = WeComApi(http, base=base, corp_id="wwcorp", secret="app-secret", agent_id=1000002)
        yield fake, {"wecom": WeComAppSender(api), "wecom_robot": WeComRobotSender(http, base)}, api
    await server.close()
