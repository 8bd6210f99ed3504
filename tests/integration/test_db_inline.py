"""The inline SQLite driver and the two-engine `Database`: the same results as the threaded driver, writers that
lose nothing and never deadlock, waiting for another process's write lock without blocking the event loop, and
heavy reads on the threaded engine."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, UTC

import pytest
from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import async_sessionmaker

from orderbot.db import sqlite_inline
from orderbot.bot.dispatch import Dispatcher
from orderbot.bot.handlers import ROUTES
from orderbot.messaging.inbound import CardAction, Origin
from orderbot.messaging.reply import Reply
from orderbot.core.orders.card import order_card
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.core.staff import sync_staff
from orderbot.db.engine import Database, make_engine

from tests.helpers import add_products, order_json


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    path = tmp_path / "inline.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def sdb(sqlite_url):
    database = Database.from_url(sqlite_url)
    yield database
    await database.dispose()


class Ticker:
    """A task that wakes every `every` seconds and records the longest gap between wake-ups: how long the event
    loop was kept from it."""

    def __init__(self, every: float = 0.005):
        self.every, self.max_gap, self.ticks = every, 0.0, 0
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.every)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last - self.every)
            self.ticks += 1
            last = now

    async def __aenter__(self):
        self._task = asyncio.ensure_future(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc):
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def _hold_write_lock(
    path: str, seconds: float, held: threading.Event, done: threading.Event | None = None
) -> threading.Thread:
    """Another writer (a thread with its own sqlite3 connection) holding the write lock for `seconds`, or until
    `done` is set."""

    def run():
        conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE IF NOT EXISTS elsewhere (x INTEGER)")
            conn.execute("INSERT INTO elsewhere VALUES (1)")
            held.set()
            (done or threading.Event()).wait(seconds)
            conn.execute("COMMIT")
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --- wiring ------------------------------------------------------------------------------------------------------
async def test_two_engines_with_the_same_pragmas(sdb):
    assert sdb.inline.dialect.driver == "aiosqlite_inline" and sdb.engine.dialect.driver == "aiosqlite_onehop"
    assert type(sdb.inline.dialect).supports_statement_cache is True
    pragmas = "journal_mode, synchronous, foreign_keys, busy_timeout, wal_autocheckpoint".split(", ")
    seen = {}
    for heavy in (False, True):
        async with sdb.read(heavy=heavy) as s:
            seen[heavy] = [(await s.execute(text(f"PRAGMA {p}"))).scalar() for p in pragmas]
    assert seen[False] == ["wal", 1, 1, 2, 0]  # inline: a tiny busy wait, checkpoints happen in a thread
    assert seen[True] == ["wal", 1, 1, 30000, 1000]


async def test_write_begins_immediate_and_read_does_not(sdb):
    path = sdb.engine.url.database
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        async with sdb.read() as s:
            await s.execute(text("SELECT count(*) FROM orders"))
            other.execute("BEGIN IMMEDIATE")  # a reader holds no write lock
            other.execute("ROLLBACK")
        async with sdb.write() as s:
            await s.execute(text("SELECT count(*) FROM orders"))  # a read first: the lock is taken at BEGIN
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


# --- same results as the threaded driver --------------------------------------------------------------------------
def _scratch(name: str) -> Table:
    return Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(40)),
        Column("data", JSON),
        Column("at", DateTime),
        Column("amount", Numeric(10, 2)),
        Column("day", Date),
    )


async def _script(write, read, t: Table) -> list:
    """Typical statements; everything they return, for comparison."""
    at = datetime(2026, 2, 10, 9, 30, 15, 123456)
    out: list = []
    async with write() as s:
        one = (
            await s.execute(
                insert(t)
                .values(name="一", data={"k": ["v", 1, None], "中": True}, at=at, amount="12.30", day=at.date())
                .returning(t.c.id, t.c.name)
            )
        ).one()
        out.append(tuple(one))
        many = (
            (
                await s.execute(
                    insert(t).returning(t.c.id),
                    [
                        {"name": f"n{i}", "data": {"i": i}, "at": at + timedelta(hours=i), "amount": i, "day": None}
                        for i in range(5)
                    ],
                )
            )
            .scalars()
            .all()
        )
        out.append(sorted(many))
        await s.execute(
            insert(t), [{"name": f"m{i}", "data": [i], "at": None, "amount": None, "day": None} for i in range(4)]
        )  # executemany
        changed = await s.execute(
            update(t).where(t.c.name == bindparam("old")).values(name=bindparam("new")),
            [{"old": "m0", "new": "M0"}, {"old": "m1", "new": "M1"}, {"old": "zz", "new": "x"}],
        )
        out.append(changed.rowcount)
        out.append((await s.execute(update(t).where(t.c.id > 3).values(amount=t.c.amount + 1))).rowcount)
    with pytest.raises(ZeroDivisionError):
        async with write() as s:
            await s.execute(insert(t).values(name="rolled back"))
            assert (await s.execute(select(func.count()).select_from(t).where(t.c.name == "rolled back"))).scalar() == 1
            raise ZeroDivisionError
    async with read() as s:
        rows = (await s.execute(select(t).order_by(t.c.id))).all()
        out.append([tuple(r) for r in rows])
        out.append((await s.execute(select(t.c.data["k"]).where(t.c.id == one.id))).scalar())
        out.append((await s.execute(text("SELECT count(*) FROM " + t.name + " WHERE name = 'rolled back'"))).scalar())
    return out


async def test_inline_returns_what_the_threaded_driver_returns(sdb):
    a, b = _scratch("scratch_inline"), _scratch("scratch_threaded")
    async with sdb.engine.begin() as conn:
        await conn.run_sync(a.metadata.create_all)
        await conn.run_sync(b.metadata.create_all)
    threaded_write = async_sessionmaker(sdb.engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False)

    def threaded_begin():
        class _Unit:
            async def __aenter__(self):
                self.s = threaded_write()
                await self.s.__aenter__()
                self.tx = self.s.begin()
                await self.tx.__aenter__()
                return self.s

            async def __aexit__(self, *exc):
                try:
                    return await self.tx.__aexit__(*exc)
                finally:
                    await self.s.__aexit__(*exc)

        return _Unit()

    inline = await _script(sdb.write, sdb.read, a)
    threaded = await _script(threaded_begin, lambda: sdb.read(heavy=True), b)
    assert inline == threaded
    assert inline[0] == (1, "一") and inline[2] == 2 and inline[-1] == 0 and len(inline[4]) == 10
    assert inline[4][0][2] == {"k": ["v", 1, None], "中": True}
    assert inline[4][0][3] == datetime(2026, 2, 10, 9, 30, 15, 123456)


async def test_the_order_card_is_the_same_on_both_engines(sdb, config, clock):
    async with sdb.write() as s:
        await add_products(s, config, at=clock())
        await ingest_order(s, parse_order(order_json()), source="test", config=config, now=clock())
    cards = []
    for heavy in (False, True):
        async with sdb.read(heavy=heavy) as s:
            cards.append(await order_card(s, "SO202602010001", roles={"customer_service"}, rules=config.visibility))
    assert cards[0] == cards[1] and cards[0]["order_no"] == "SO202602010001"


async def test_integrity_errors_surface_as_sqlalchemy_errors(sdb):
    from sqlalchemy.exc import IntegrityError

    t = _scratch("scratch_unique")
    async with sdb.engine.begin() as conn:
        await conn.run_sync(t.metadata.create_all)
    async with sdb.write() as s:
        await s.execute(insert(t).values(id=1, name="a"))
    with pytest.raises(IntegrityError):
        async with sdb.write() as s:
            await s.execute(insert(t).values(id=1, name="b"))
    async with sdb.read() as s:  # the connection is fine afterwards
        assert (await s.execute(select(t.c.name))).scalars().all() == ["a"]


async def test_streaming_results_work_inline(sdb):
    async with sdb.write() as s:
        await s.execute(text("CREATE TABLE nums (n INTEGER)"))
        await s.execute(text("INSERT INTO nums VALUES (:n)"), [{"n": i} for i in range(250)])
    async with sdb.read() as s:
        result = await s.stream(text("SELECT n FROM nums ORDER BY n"))
        seen = [n async for (n,) in result]
    assert seen == list(range(250))


# --- writers in one process -----------------------------------------------------------------------------------------
async def test_concurrent_writers_lose_nothing_and_never_deadlock(sdb):
    async with sdb.write() as s:
        await s.execute(text("CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL)"))
        await s.execute(text("INSERT INTO counters VALUES ('rmw', 0), ('atomic', 0)"))

    async def writer(i: int) -> None:
        async with sdb.write() as s:
            n = (await s.execute(text("SELECT n FROM counters WHERE name = 'rmw'"))).scalar()
            await asyncio.sleep(0.001 * (i % 3))  # let the others run in the middle of the unit of work
            await s.execute(text("UPDATE counters SET n = :n WHERE name = 'rmw'"), {"n": n + 1})
            await s.execute(text("UPDATE counters SET n = n + 1 WHERE name = 'atomic'"))

    async def reader() -> int:
        async with sdb.read() as s:
            return (await s.execute(text("SELECT n FROM counters WHERE name = 'atomic'"))).scalar()

    async with asyncio.timeout(60):  # a deadlock fails here instead of hanging
        results = await asyncio.gather(*(writer(i) for i in range(50)), *(reader() for _ in range(20)))
    assert all(0 <= r <= 50 for r in results[50:])
    async with sdb.read() as s:
        assert dict((await s.execute(text("SELECT name, n FROM counters"))).all()) == {"rmw": 50, "atomic": 50}


async def test_a_write_inside_a_write_of_the_same_task_raises_instead_of_waiting_for_itself(sdb):
    started = time.perf_counter()
    async with sdb.write() as s:
        await s.execute(text("SELECT 1"))
        with pytest.raises(RuntimeError, match="inside another write"):
            async with sdb.write():
                pass
    assert time.perf_counter() - started < 5
    async with sdb.write() as s:  # and the lock is free again
        await s.execute(text("SELECT 1"))


async def test_long_units_of_work_give_the_loop_back(sdb):
    async with sdb.write() as s:
        await s.execute(text("CREATE TABLE many (n INTEGER)"))
    async with Ticker(0.002) as ticker:
        started = time.perf_counter()
        async with sdb.write() as s:
            for i in range(3000):  # thousands of statements that never await anything real
                await s.execute(text("INSERT INTO many VALUES (:n)"), {"n": i})
        took = time.perf_counter() - started
    # without pacing the ticker would wait for the whole unit of work (`took`)
    assert ticker.max_gap < max(0.1, took / 4), (ticker.max_gap, took)
    async with sdb.read() as s:
        assert (await s.execute(text("SELECT count(*) FROM many"))).scalar() == 3000


# --- another writer holding the lock ------------------------------------------------------------------------------
async def _second_write(sdb) -> tuple[float, Ticker]:
    """Write 2 into `elsewhere` (where another writer puts 1) under a ticker: how long it took, and the ticker."""
    async with Ticker() as ticker:
        started = time.perf_counter()
        async with sdb.write() as s:
            await s.execute(text("CREATE TABLE IF NOT EXISTS elsewhere (x INTEGER)"))
            await s.execute(text("INSERT INTO elsewhere VALUES (2)"))
        return time.perf_counter() - started, ticker


async def _elsewhere(sdb) -> list[int]:
    async with sdb.read() as s:
        return list((await s.execute(text("SELECT x FROM elsewhere ORDER BY x"))).scalars())


async def test_write_waits_for_another_connections_write_lock_without_blocking_the_loop(sdb):
    held = threading.Event()
    thread = _hold_write_lock(sdb.engine.url.database, 1.0, held)
    assert await asyncio.to_thread(held.wait, 5)
    waited, ticker = await _second_write(sdb)
    await asyncio.to_thread(thread.join, 5)
    assert 0.5 < waited < 10  # it waited for the other writer, and did not fail
    assert ticker.ticks > 20 and ticker.max_gap < 0.25, (ticker.ticks, ticker.max_gap)  # the loop kept running
    assert await _elsewhere(sdb) == [1, 2]


@contextlib.asynccontextmanager
async def _another_process_writing(path: str, table: str, seconds: float = 1.0):
    """Another process holds the write lock for `seconds`, having inserted 1 into `table`."""
    script = textwrap.dedent(f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({path!r}, isolation_level=None, timeout=5)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE IF NOT EXISTS {table} (x INTEGER)")
        conn.execute("INSERT INTO {table} VALUES (1)")
        print("held", flush=True)
        time.sleep({seconds})
        conn.execute("COMMIT")
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"held"
        yield
    finally:
        await proc.wait()


async def test_write_waits_for_another_process(sdb):
    async with _another_process_writing(sdb.engine.url.database, "elsewhere"):
        waited, ticker = await _second_write(sdb)
    assert waited > 0.3 and ticker.max_gap < 0.25, (waited, ticker.max_gap)
    assert await _elsewhere(sdb) == [1, 2]


async def test_raw_write_waits_for_another_process_and_rolls_back_on_error(sdb):
    """The inbox's raw lane: same write lock, same patience with other processes, all or nothing."""
    async with _another_process_writing(sdb.engine.url.database, "lane"):
        async with Ticker() as ticker:
            started = time.perf_counter()
            await sdb.raw_write(lambda conn: conn.execute("INSERT INTO lane VALUES (2)"))
            waited = time.perf_counter() - started
    assert waited > 0.3 and ticker.max_gap < 0.25, (waited, ticker.max_gap)

    def half_then_fail(conn):
        conn.execute("INSERT INTO lane VALUES (3)")
        raise ValueError("bad row")

    with pytest.raises(ValueError):
        await sdb.raw_write(half_then_fail)
    async with sdb.write() as s:  # the lock was released, and nothing of the failed unit is left
        assert (await s.execute(text("SELECT x FROM lane ORDER BY x"))).scalars().all() == [1, 2]


async def test_a_lock_held_too_long_fails_as_locked_without_blocking_the_loop(sqlite_url):
    db = Database(make_engine(sqlite_url), inline=make_engine(sqlite_url, inline=True, busy_wait=0.3))
    held, done = threading.Event(), threading.Event()
    thread = _hold_write_lock(db.engine.url.database, 1.5, held, done)
    try:
        assert await asyncio.to_thread(held.wait, 5)
        async with Ticker() as ticker:
            started = time.perf_counter()
            with pytest.raises(OperationalError, match="database is locked"):
                async with db.write() as s:
                    await s.execute(text("SELECT 1"))
            failed_after = time.perf_counter() - started
        assert 0.2 < failed_after < 1.4 and ticker.max_gap < 0.25, (failed_after, ticker.max_gap)
    finally:
        done.set()  # the other writer need not hold on for the rest of its 1.5 s
        await asyncio.to_thread(thread.join, 5)
        await db.dispose()


# --- heavy reads ----------------------------------------------------------------------------------------------------
async def test_heavy_reads_use_the_threaded_engine(sdb):
    async with sdb.read() as s:
        assert (await s.connection()).engine.dialect.driver == "aiosqlite_inline"
    async with sdb.read(heavy=True) as s:
        conn = await s.connection()
        assert conn.engine is sdb.engine and conn.engine.dialect.driver == "aiosqlite_onehop"
        loop_thread = threading.get_ident()
        raw = (await conn.get_raw_connection()).driver_connection  # aiosqlite.Connection
        assert await raw._execute(threading.get_ident) != loop_thread  # it runs in aiosqlite's thread


async def test_heavy_writes_use_the_threaded_engine_and_the_same_lock(sdb):
    async with sdb.write() as s:
        await s.execute(text("CREATE TABLE hw (n INTEGER)"))
    order = []

    async def unit(heavy: bool, n: int) -> None:
        async with sdb.write(heavy=heavy) as s:
            assert (await s.connection()).engine.dialect.driver == ("aiosqlite_onehop" if heavy else "aiosqlite_inline")
            order.append(("in", n))
            await s.execute(text("INSERT INTO hw VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.01)
            order.append(("out", n))

    async with asyncio.timeout(60):
        await asyncio.gather(*(unit(i % 2 == 0, i) for i in range(6)))
    assert all(order[i][0] == "in" and order[i + 1] == ("out", order[i][1]) for i in range(0, 12, 2))  # one at a time
    async with sdb.read() as s:
        assert (await s.execute(text("SELECT count(*) FROM hw"))).scalar() == 6


async def test_dispatcher_runs_heavy_routes_in_a_heavy_session(sdb, config, clock, monkeypatch):
    async with sdb.write() as s:
        await sync_staff(s, config)
    seen = {}

    def spy(label):
        async def handler(arg, ctx):
            conn = await ctx.session.connection()
            seen[label] = (conn.engine.dialect.driver, arg, sdb.inline.sync_engine.pool.checkedout())
            await ctx.session.execute(text("SELECT count(*) FROM orders"))
            return Reply(text=label)

        return handler

    base = ROUTES["action.evidence"]
    monkeypatch.setitem(
        ROUTES, "action.spy_heavy", dataclasses.replace(base, name="action.spy_heavy", handler=spy("heavy"), roles=None)
    )
    monkeypatch.setitem(
        ROUTES,
        "action.spy_light",
        dataclasses.replace(base, name="action.spy_light", handler=spy("light"), roles=None, heavy=False),
    )
    assert base.heavy and not ROUTES["order.lookup"].heavy
    dispatcher = Dispatcher(sdb, None, config, clock)
    who = config.staff[0].id
    origin = Origin("sandbox", who, None, reply_channel="sandbox", reply_to=f"user:{who}")
    heavy = await dispatcher.prepare(CardAction(origin, "spy_heavy:x", "k1", clock()))
    light = await dispatcher.prepare(CardAction(origin, "spy_light:y", "k2", clock()))
    assert heavy.reply.text == "heavy" and light.reply.text == "light"
    assert seen["heavy"] == ("aiosqlite_onehop", "x", 0)  # the light session was closed first
    assert seen["light"] == ("aiosqlite_inline", "y", 1)


async def test_heavy_is_the_same_engine_on_postgresql(db):
    async with db.read(heavy=True) as heavy, db.read() as light:
        engines = ((await heavy.connection()).engine, (await light.connection()).engine)
    if db.dialect == "postgresql":
        assert db.inline is None and engines[0] is engines[1] is db.engine
    else:  # the same file through two drivers
        assert engines == (db.engine, db.inline) and engines[0].url.database == engines[1].url.database


# --- housekeeping ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pause", [0, 1, 3])
async def test_disposing_the_engine_closes_inline_connections_too(sdb, monkeypatch, pause):
    import orderbot.db.engine as dbmod

    monkeypatch.setattr(dbmod, "CHECKPOINT_EVERY", 0.0)  # every write starts a checkpoint: one is in flight below
    for heavy in (False, True):  # idle connections in both pools (closing the threaded ones lets the loop run)
        async with sdb.read(heavy=heavy) as s:
            await s.execute(text("SELECT 1"))
    async with sdb.write() as s:
        await s.execute(text("CREATE TABLE t (x INTEGER)"))
    for _ in range(pause):
        await asyncio.sleep(0)
    assert sdb.inline.sync_engine.pool.checkedin() >= 1 and sdb._checkpointing is not None
    await sdb.engine.dispose()  # what the seed's bulk load does before switching the journal mode
    await asyncio.sleep(0.1)  # (the seed switches in a thread: the loop runs meanwhile, and so would a checkpoint)
    conn = sqlite3.connect(sdb.engine.url.database, isolation_level=None, timeout=1)
    try:
        assert conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"  # nobody else has it open
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    finally:
        conn.close()
    async with sdb.write() as s:  # and the engines reconnect on their next use
        await s.execute(text("INSERT INTO t VALUES (1)"))


async def test_writes_checkpoint_the_wal_from_a_thread(sdb, monkeypatch):
    import orderbot.db.engine as dbmod

    monkeypatch.setattr(dbmod, "CHECKPOINT_EVERY", 0.0)
    async with sdb.write() as s:
        await s.execute(text("CREATE TABLE t (x TEXT)"))
    for _ in range(20):
        async with sdb.write() as s:
            await s.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000})
    if sdb._checkpointing is not None:
        await sdb._checkpointing
    busy, frames, done = await sdb.checkpoint()
    assert busy == 0 and frames == done


def test_slow_inline_statements_are_reported_once(caplog):
    import logging

    caplog.set_level(logging.INFO, logger="orderbot.db")
    sqlite_inline._slow_seen.discard("SELECT slow")
    sqlite_inline._note_slow("SELECT   slow", 0.25)
    sqlite_inline._note_slow("SELECT slow", 0.3)
    assert [r.getMessage() for r in caplog.records].count(
        "inline SQLite statement held the event loop 250 ms (use Database.read(heavy=True) for such work): SELECT slow"
    ) == 1


async def test_utc_datetimes_survive_both_engines(sdb):
    t = Table("scratch_tz", MetaData(), Column("id", Integer, primary_key=True), Column("at", DateTime(timezone=True)))
    async with sdb.engine.begin() as conn:
        await conn.run_sync(t.metadata.create_all)
    at = datetime(2026, 2, 10, 1, 0, tzinfo=UTC)
    async with sdb.write() as s:
        await s.execute(insert(t).values(id=1, at=at))
    got = []
    for heavy in (False, True):
        async with sdb.read(heavy=heavy) as s:
            got.append((await s.execute(select(t.c.at))).scalar())
    assert got[0] == got[1]
