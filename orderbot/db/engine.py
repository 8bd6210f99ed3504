"""Database engine and units of work for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode, and every *writing* unit of work starts with `BEGIN IMMEDIATE`, so a transaction that
reads before it writes never fails on a lock upgrade (pysqlite's deferred BEGIN does). Read-only work uses a
plain deferred BEGIN and never blocks writers.

On a SQLite file a `Database` has two engines:

* `inline` (`sqlite_inline`): statements run right on the event loop thread — microseconds for an indexed
  statement instead of a thread hand-off each. `write()` and `read()` use it.
* `engine` (`sqlite_onehop`, one hop to aiosqlite's thread per statement): `read(heavy=True)` for report
  queries that scan many rows (they must not stall the loop), `write(heavy=True)` for units of work that do,
  migrations, bulk loads and WAL checkpoints.

How the inline engine never blocks the loop on a lock (see `sqlite_inline` for the rest):
* in-process writers are serialised by an asyncio lock in `write()`, so an inline `BEGIN IMMEDIATE` never
  waits for another writer of this process (which would need the loop to finish). A `write()` nested in a
  `write()` of the same task would wait for itself: it raises instead;
* inline connections have a 2 ms busy timeout; a `BEGIN IMMEDIATE` that finds another *process* writing is
  retried with `asyncio.sleep` back-off for up to 30 s, then fails with "database is locked" as before;
* inline connections do not checkpoint the WAL (fsyncs); `write()` starts a PASSIVE checkpoint in a thread,
  on a private connection, at most once a second instead.
On PostgreSQL there is one engine, and `read(heavy=True)` is `read()`; writers are not serialised.

Both private drivers are used only when the installed SQLAlchemy/aiosqlite are the ones they were written for
(`driver_compat`); otherwise, or with `ORDERBOT_SQLITE_DRIVER=stock`, SQLite runs on SQLAlchemy's stock
`sqlite+aiosqlite` driver: one engine, no inline path, the same WAL and `BEGIN IMMEDIATE` rules.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import TypeVar

from sqlalchemy import URL, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from orderbot.db import driver_compat

log = logging.getLogger("orderbot.db")
T = TypeVar("T")

SQLITE_BUSY_WAIT = 30.0  # seconds a SQLite writer waits for the write lock before "database is locked"
INLINE_BUSY_TIMEOUT_MS = 2  # SQLite's own (blocking) busy wait on inline connections, per attempt
CHECKPOINT_EVERY = 1.0  # seconds between WAL checkpoints started by write()
RAW_BACKOFF = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.05)  # raw_write waiting for another process


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL (None for PostgreSQL or an in-memory database)."""
    if isinstance(url, str) and not url.startswith("sqlite"):
        return None
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return None
    path = url.database
    return Path(path) if path and path != ":memory:" else None


def sqlite_timestamp(at: datetime) -> str:
    """An aware datetime as SQLAlchemy stores it in SQLite (UTC, no zone), for the raw statements."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


_driver_choice = "auto"
_resolved: dict[str, tuple[str, str | None]] = {}


def set_sqlite_driver(choice: str) -> None:
    """The process-wide `ORDERBOT_SQLITE_DRIVER` (auto | inline | stock); the composition root sets it from the
    settings before it opens a database."""
    driver_compat.resolve(choice)  # a bad value fails here, at start-up
    global _driver_choice
    _driver_choice = choice


def sqlite_driver(choice: str | None = None) -> str:
    """ "inline" (our private drivers) or "stock" for `choice` (default: the process-wide one); logs once why
    the stock driver was chosen."""
    choice = choice or _driver_choice
    if choice not in _resolved:
        _resolved[choice] = driver_compat.resolve(choice)
        driver, why = _resolved[choice]
        if driver == "stock" and choice == "auto":
            log.warning("SQLite: using the stock sqlite+aiosqlite driver (%s)", why)
    return _resolved[choice][0]


def _inline_capable(url: URL) -> bool:
    """A SQLite file that a second set of connections would see as the same database."""
    path = url.database
    if not path or path == ":memory:":
        return False
    return "memory" not in str(url.query.get("mode", "")) and not path.startswith("file::memory:")


def make_engine(
    url: str | URL,
    *,
    echo: bool = False,
    inline: bool = False,
    busy_wait: float = SQLITE_BUSY_WAIT,
    driver: str | None = None,
) -> AsyncEngine:
    """The engine for a URL. On SQLite the threaded one-hop driver, or with `inline=True` the inline driver
    (statements on the event loop thread: for `Database`'s short reads and writes only); with the stock driver
    (`driver="stock"`, or `auto` on packages the private drivers were not written for) SQLAlchemy's own."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True)
    if sqlite_driver(driver) == "stock":
        if inline:
            raise ValueError("the inline SQLite engine needs the private driver (ORDERBOT_SQLITE_DRIVER)")
        engine = create_async_engine(
            url.set(drivername="sqlite+aiosqlite"), echo=echo, connect_args={"timeout": busy_wait}
        )
        _sqlite_setup(engine, busy_timeout_ms=int(busy_wait * 1000))
        return engine
    if inline:
        from orderbot.db.sqlite_inline import register

        register()
        engine = create_async_engine(
            url.set(drivername="sqlite+aiosqlite_inline"),
            echo=echo,
            connect_args={"timeout": INLINE_BUSY_TIMEOUT_MS / 1000, "busy_wait": busy_wait},
        )
        _sqlite_setup(engine, busy_timeout_ms=INLINE_BUSY_TIMEOUT_MS, autocheckpoint=False)
        return engine
    from orderbot.db.sqlite_onehop import register

    register()
    engine = create_async_engine(
        url.set(drivername="sqlite+aiosqlite_onehop"), echo=echo, connect_args={"timeout": busy_wait}
    )
    _sqlite_setup(engine, busy_timeout_ms=int(busy_wait * 1000))
    return engine


def _sqlite_setup(engine: AsyncEngine, *, busy_timeout_ms: int = 30000, autocheckpoint: bool = True) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no branch - wiring
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


@dataclass
class Database:
    """The engines plus the session factories: `read()` for queries (`heavy=True` for report-sized ones),
    `write()` for units of work.

    `engine` is the threaded engine (migrations, bulk work, heavy reads; the only one on PostgreSQL or an
    in-memory SQLite database); `inline` the inline engine on a SQLite file (made from `engine`'s URL unless
    given). Disposing `engine` disposes `inline` too, so a bulk loader that disposes `engine` gets the file
    to itself."""

    engine: AsyncEngine
    inline: AsyncEngine | None = None
    lock_timeout: float = SQLITE_BUSY_WAIT

    def __post_init__(self) -> None:
        self.dialect = self.engine.dialect.name
        sqlite = self.dialect == "sqlite"
        if not sqlite or self.engine.dialect.driver == "aiosqlite":  # PostgreSQL, or the stock SQLite driver
            self.inline = None
        elif self.inline is None and _inline_capable(self.engine.url):
            self.inline = make_engine(self.engine.url, inline=True, echo=self.engine.echo, driver="inline")
        if self.inline is not None:
            event.listen(self.engine.sync_engine, "engine_disposed", self._dispose_inline)
        fast = self.inline or self.engine
        writer = fast.execution_options(sqlite_begin="IMMEDIATE") if sqlite else fast
        self._read = async_sessionmaker(fast, expire_on_commit=False)
        self._heavy = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer, expire_on_commit=False)
        self._write_heavy = async_sessionmaker(
            self.engine.execution_options(sqlite_begin="IMMEDIATE") if sqlite else self.engine, expire_on_commit=False
        )
        self._serialise = sqlite
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._lock_owner: asyncio.Task | None = None
        self._last_checkpoint = time.monotonic()
        self._checkpointing: asyncio.Future | None = None
        self._checkpoint_lock = threading.Lock()
        self._epoch = 0
        self._path = os.path.abspath(self.engine.url.database) if self.inline is not None else None
        self._raw: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str, **kw) -> Database:
        """`driver=` picks the SQLite driver (auto | inline | stock) for this database only."""
        return cls(make_engine(url, **kw))

    @asynccontextmanager
    async def read(self, heavy: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only session. `heavy=True` for queries that may take more than a few milliseconds (reports,
        aggregates over many rows): on SQLite they run in a thread instead of on the event loop."""
        async with (self._heavy if heavy else self._read)() as session:
            yield session

    @asynccontextmanager
    async def write(self, heavy: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends normally, rolls back on any exception.

        `heavy=True` for a unit of work whose statements take long (it measures over many rows): on SQLite it
        runs on the threaded engine. On SQLite one `write()` runs at a time in this process (SQLite has one
        writer anyway); do not open a `write()` inside another one: in the same task that raises RuntimeError,
        from a task the outer one awaits it would wait until `lock_timeout` and fail."""
        factory = self._write_heavy if heavy else self._write
        if not self._serialise:
            async with factory() as session:
                async with session.begin():
                    yield session
            return
        lock = await self._acquire()
        try:
            async with factory() as session:
                async with session.begin():
                    yield session
        finally:
            self._lock_owner = None
            lock.release()
        self._maybe_checkpoint()

    @property
    def raw_sqlite(self) -> bool:
        """Whether `raw_write` is available (a SQLite file with the inline driver)."""
        return self.inline is not None

    async def raw_write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(conn)` between BEGIN IMMEDIATE and COMMIT straight on a `sqlite3` connection of this process,
        under the same write lock as `write()`: for the one hot write whose ORM overhead was most of its cost
        (the inbox insert of every acknowledgement). Another process holding the write lock is waited out with
        async back-off, as the inline driver does."""
        if self.inline is None:
            raise RuntimeError("raw_write needs a SQLite file")
        lock = await self._acquire()
        try:
            conn = self._raw_connection()
            started, attempt = time.monotonic(), 0
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() - started > self.lock_timeout:
                        raise
                    await asyncio.sleep(RAW_BACKOFF[min(attempt, len(RAW_BACKOFF) - 1)])
                    attempt += 1
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back by itself (disk full, I/O error)
                    conn.execute("ROLLBACK")
                raise
        finally:
            self._lock_owner = None
            lock.release()
        self._maybe_checkpoint()
        return result

    def _raw_connection(self) -> sqlite3.Connection:
        if self._raw is None:
            conn = sqlite3.connect(
                self._path, timeout=INLINE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "wal_autocheckpoint=0"):
                conn.execute(f"PRAGMA {pragma}")
            self._raw = conn
        return self._raw

    def _close_raw(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    async def _acquire(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:  # a lock belongs to one event loop
            self._lock, self._lock_loop, self._lock_owner = asyncio.Lock(), loop, None
        lock = self._lock
        task = asyncio.current_task()
        if lock.locked() and task is not None and self._lock_owner is task:
            raise RuntimeError(
                "Database.write() inside another write() of the same task: it would wait for "
                "itself (SQLite has one writer); finish the outer unit of work first"
            )
        try:
            async with asyncio.timeout(self.lock_timeout):
                await lock.acquire()
        except TimeoutError:
            raise OperationalError(
                "BEGIN IMMEDIATE",
                None,
                sqlite3.OperationalError(
                    f"database is locked (waited {self.lock_timeout:g} s for another writer of this process)"
                ),
            ) from None
        self._lock_owner = task
        return lock

    def _maybe_checkpoint(self) -> None:
        """Inline connections do not checkpoint the WAL (it fsyncs); this does, in a thread, at most once every
        `CHECKPOINT_EVERY` seconds of writing."""
        if self.inline is None:
            return
        now = time.monotonic()
        if now - self._last_checkpoint < CHECKPOINT_EVERY:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._last_checkpoint = now
        self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint_file, self._epoch, "PASSIVE"))

    async def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int] | None:
        """`PRAGMA wal_checkpoint(mode)` in a thread: (busy, WAL frames, frames checkpointed); None if not SQLite."""
        if self.inline is None:
            return None
        return await asyncio.to_thread(self._checkpoint_file, self._epoch, mode)

    def _checkpoint_file(self, epoch: int, mode: str) -> tuple[int, int, int] | None:
        """On a private connection, closed at once: never a pooled one, which `engine.dispose()` could not close
        while it is in use (the seed's bulk load needs the file to itself right after disposing)."""
        with self._checkpoint_lock:
            if epoch != self._epoch:  # the engines were disposed since this was asked for
                return None
            try:
                conn = sqlite3.connect(self._path, timeout=5, isolation_level=None)
                try:
                    return tuple(conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone())
                finally:
                    conn.close()
            except sqlite3.Error:  # the next one will do; never fail a caller over housekeeping
                log.debug("WAL checkpoint failed", exc_info=True)
                return None

    def _dispose_inline(self, _engine) -> None:
        """`engine.dispose()` closes the idle inline connections too (the listener runs inside its greenlet), and
        waits for a checkpoint in flight; checkpoints asked for before are skipped."""
        with self._checkpoint_lock:
            self._epoch += 1
        self._close_raw()
        if self.inline is not None:
            self.inline.sync_engine.dispose()

    async def dispose(self) -> None:
        if self._checkpointing is not None and not self._checkpointing.done():
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        if self.inline is not None:
            await self.inline.dispose()
        await self.engine.dispose()
