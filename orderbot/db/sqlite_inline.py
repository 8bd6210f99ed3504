"""An inline async SQLite driver for SQLAlchemy: statements run right on the event loop thread, no thread hop.

An indexed SQLite statement takes microseconds; handing it to aiosqlite's connection thread and back costs
0.3–0.5 ms of wall time on a busy machine. Here the connection is a plain `sqlite3.Connection`
(check_same_thread=False) behind a small object that looks like the parts of `aiosqlite.Connection` that
SQLAlchemy's aiosqlite adapter uses, and every call runs synchronously. Registered as `sqlite+aiosqlite_inline`;
`orderbot.db.Database` uses it for writes and short reads, and keeps the threaded driver (`sqlite_onehop`) for
heavy reads, migrations and bulk work.

Running SQLite on the loop thread is only safe if nothing here ever *waits* on the loop thread:

* Waiting for a lock. Inline connections get a tiny busy timeout (`Database` uses 2 ms). A statement that still
  meets SQLITE_BUSY outside a transaction (`BEGIN IMMEDIATE` while another process writes, a PRAGMA at connect),
  a read-only statement or a COMMIT is retried after `await asyncio.sleep(...)` with back-off until `busy_wait`
  seconds (default 30) have passed, so other tasks keep running meanwhile. SQLITE_BUSY_SNAPSHOT (a stale read
  transaction trying to write) is never retried: it cannot succeed. In-process writers are serialised by
  `Database.write()` with an asyncio lock, so an inline writer never waits for another one of ours.
* Long runs of statements. A unit of work of thousands of small statements never awaits anything real; before
  a statement, if the loop has not had control for `YIELD_AFTER` seconds, the statement first yields
  (`asyncio.sleep(0)`), so other tasks get the loop at least that often.
* fsync. The caller sets `wal_autocheckpoint=0` on inline connections (a checkpoint fsyncs the WAL and the
  database file) and checkpoints from a thread instead; commits in WAL mode with synchronous=NORMAL do not fsync.

A single slow statement (a report over a million rows) still blocks the loop for its whole length: such work
belongs on the threaded engine (`Database.read(heavy=True)`). Statements slower than `SLOW_STATEMENT` are logged
(INFO, once per statement text) to help find them. Server-side (streaming) cursors work, fetching inline too.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    AsyncAdapt_aiosqlite_ss_cursor,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util.concurrency import await_, in_greenlet

from orderbot.db.sqlite_onehop import run_statement

log = logging.getLogger("orderbot.db")

YIELD_AFTER = 0.005  # give the loop back before a statement once it has been kept this long (seconds)
SLOW_STATEMENT = 0.1  # log inline statements slower than this (seconds), once per statement text
BUSY_WAIT = 30.0  # default total seconds a busy statement is retried for
_BACKOFF = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.05)
_BUSY_SNAPSHOT = sqlite3.SQLITE_BUSY | (2 << 8)
_RETRY_WORDS = ("SELECT", "WITH", "PRAGMA", "BEGIN", "COMMIT", "END", "VALUES", "EXPLAIN")
_slow_seen: set[str] = set()


class _Pace(threading.local):
    """Per thread (so per event loop): since when the loop has not had control, as far as we can tell."""

    loop: Any = None
    armed = False
    since = 0.0


_pace = _Pace()


def _disarm(state: _Pace) -> None:
    state.armed = False


def _pace_before_statement() -> None:
    """Called before each inline statement. The first statement after the loop last ran its callbacks arms a
    `call_soon` marker; while the marker has not run, the loop has not had control. Past `YIELD_AFTER`, yield."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    state = _pace
    now = time.perf_counter()
    if not state.armed or state.loop is not loop:
        state.loop, state.armed, state.since = loop, True, now
        loop.call_soon(_disarm, state)
    elif now - state.since >= YIELD_AFTER and in_greenlet():
        await_(asyncio.sleep(0))  # the marker runs first, so the next statement re-arms


def _retryable(exc: BaseException, operation: str | None, was_in_transaction: bool) -> bool:
    """SQLITE_BUSY where running the statement again is what SQLite's own busy handler would have done."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF != sqlite3.SQLITE_BUSY or code == _BUSY_SNAPSHOT:
        return False
    if not was_in_transaction:
        return True
    head = (operation or "").lstrip().split(None, 1)
    return bool(head) and head[0].upper() in _RETRY_WORDS


def _run(conn: sqlite3.Connection, operation: str, parameters, many: bool):
    started = time.perf_counter()
    try:
        return run_statement(conn, operation, parameters, many)
    finally:
        took = time.perf_counter() - started
        if took >= SLOW_STATEMENT:
            _note_slow(operation, took)


class InlineAioConnection:
    """Looks like the parts of `aiosqlite.Connection` SQLAlchemy's adapter uses; runs everything synchronously."""

    def __init__(self, connection: sqlite3.Connection, *, busy_wait: float = BUSY_WAIT):
        self._connection: sqlite3.Connection | None = connection
        self._running = True
        self.busy_wait = busy_wait

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    def _live(self) -> sqlite3.Connection:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return self._connection

    # --- the synchronous core ------------------------------------------------------------------------------
    def call(self, fn, *args, operation: str | None = None, retry: bool = True, **kwargs):
        """`fn(*args, **kwargs)` on the loop thread; SQLITE_BUSY is retried with asynchronous back-off."""
        conn = self._live()
        was_in_transaction = conn.in_transaction
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not retry or not _retryable(exc, operation, was_in_transaction) or not in_greenlet():
                raise
            return await_(self._retry(exc, fn, args, kwargs))

    async def _retry(self, exc: BaseException, fn, args, kwargs):
        deadline = time.monotonic() + self.busy_wait
        attempt = 0
        while True:
            delay = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
            if time.monotonic() + delay > deadline:
                raise exc
            await asyncio.sleep(delay)
            attempt += 1
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as again:
                if not _retryable(again, None, False):
                    raise
                exc = again

    def statement(self, operation: str, parameters, many: bool):
        """One statement executed, fully fetched and closed: (description, rowcount, lastrowid, rows)."""
        conn = self._live()
        _pace_before_statement()
        return self.call(_run, conn, operation, parameters, many, operation=operation, retry=not many)

    # --- what the aiosqlite adapter calls -----------------------------------------------------------------
    async def _execute(self, fn, *args, **kwargs):
        self._live()
        return fn(*args, **kwargs)

    def commit_now(self) -> None:
        conn = self._live()
        self.call(conn.commit, operation="COMMIT")

    def rollback_now(self) -> None:
        self._live().rollback()

    def close_now(self) -> None:
        conn, self._connection = self._connection, None
        self._running = False
        if conn is not None:
            conn.close()

    async def commit(self) -> None:
        self.commit_now()

    async def rollback(self) -> None:
        self.rollback_now()

    async def close(self) -> None:
        self.close_now()

    def stop(self) -> None:
        self.close_now()

    async def create_function(self, name: str, num_params: int, func, deterministic: bool = False) -> None:
        self._conn.create_function(name, num_params, func, deterministic=deterministic)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value

    @property
    def total_changes(self) -> int:
        return self._conn.total_changes

    def cursor(self) -> sqlite3.Cursor:
        return self._conn.cursor()


def _note_slow(operation: str, took: float) -> None:
    key = " ".join(operation.split())[:200]
    if key not in _slow_seen and len(_slow_seen) < 1000:
        _slow_seen.add(key)
        log.info(
            "inline SQLite statement held the event loop %.0f ms (use Database.read(heavy=True) for such work): %s",
            took * 1000,
            key,
        )


class _Result:
    """The cursor SQLAlchemy's adapter holds: only the outcome of the last statement."""

    __slots__ = ("description", "rowcount", "lastrowid", "arraysize")

    def __init__(self):
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self.arraysize = 1

    def close(self) -> None:
        pass


class InlineCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()
    _awaitable_cursor_close = False

    def _make_new_cursor(self, connection):
        return _Result()

    def _aenter_cursor(self, cursor):
        return cursor

    def _statement(self, operation, parameters, many: bool) -> None:
        try:
            description, rowcount, lastrowid, rows = self._connection.statement(operation, parameters, many)
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        result = self._cursor
        result.description, result.rowcount, result.lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows) if description else collections.deque()

    def execute(self, operation, parameters=None):
        self._statement(operation, parameters, False)

    def executemany(self, operation, seq_of_parameters):
        self._statement(operation, seq_of_parameters, True)

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes) -> None:
        return None


class InlineSSCursor(AsyncAdapt_aiosqlite_ss_cursor):
    """A streaming cursor: a real sqlite3 cursor, fetched from on demand (still on the loop thread)."""

    __slots__ = ()

    def _make_new_cursor(self, connection):
        return connection._live().cursor()

    def _aenter_cursor(self, cursor):
        return cursor

    def execute(self, operation, parameters=None):
        aio = self._connection
        try:
            _pace_before_statement()
            if parameters is None:
                aio.call(self._cursor.execute, operation, operation=operation)
            else:
                aio.call(self._cursor.execute, operation, parameters, operation=operation)
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation, seq_of_parameters):
        try:
            _pace_before_statement()
            self._cursor.executemany(operation, seq_of_parameters)
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchmany(self, size=None):
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    def fetchall(self):
        return self._cursor.fetchall()

    def __iter__(self):
        return iter(self._cursor)

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes) -> None:
        return None


class InlineConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = InlineCursor
    _ss_cursor_cls = InlineSSCursor

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # the stock adapter goes through aiosqlite's `_tx` queue; here the connection is right at hand
        try:
            self._connection.isolation_level = value
        except Exception as error:
            self._handle_exception(error)

    def create_function(self, *args: Any, **kw: Any) -> None:
        try:
            self._connection._conn.create_function(*args, **kw)
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        if self._connection._connection:
            try:
                self._connection.commit_now()
            except Exception as error:
                self._handle_exception(error)

    def rollback(self) -> None:
        if self._connection._connection:
            try:
                self._connection.rollback_now()
            except Exception as error:
                self._handle_exception(error)

    def close(self) -> None:
        try:
            self._connection.close_now()
        except Exception as error:
            self._handle_exception(error)

    async def _terminate_graceful_close(self) -> None:
        self._connection.close_now()

    def _terminate_force_close(self) -> None:
        self._connection.close_now()


class InlineDbapi(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self, aiosqlite, sqlite):
        super().__init__(aiosqlite, sqlite)
        self.has_stop = True

    def connect(self, *arg: Any, **kw: Any) -> InlineConnection:
        if kw.pop("async_creator_fn", None) is not None:
            raise NotImplementedError("the inline SQLite driver opens its own sqlite3 connections")
        busy_wait = float(kw.pop("busy_wait", BUSY_WAIT))
        kw["check_same_thread"] = False
        return InlineConnection(self, InlineAioConnection(self.sqlite.connect(*arg, **kw), busy_wait=busy_wait))


class SQLiteDialect_inline(SQLiteDialect_aiosqlite):
    driver = "aiosqlite_inline"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls):
        import aiosqlite

        return InlineDbapi(aiosqlite, sqlite3)


def register() -> None:
    registry.register("sqlite.aiosqlite_inline", "orderbot.db.sqlite_inline", "SQLiteDialect_inline")
