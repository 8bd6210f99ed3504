"""A faster async SQLite driver for SQLAlchemy: each statement is one hop to aiosqlite's thread, not four.

SQLAlchemy's aiosqlite adapter opens a cursor, executes, fetches and closes it as four separate trips to the
connection thread (each ~50–90 µs of queueing and waking). Here a statement is executed, fully fetched and
closed in one function run in that thread, and its description, rowcount and lastrowid come back with the rows.
Everything else (pooling, transactions, type handling) is SQLAlchemy's own aiosqlite dialect, unchanged.
Registered as `sqlite+aiosqlite_onehop`; `orderbot.db.make_engine` uses it for `sqlite+aiosqlite://` URLs.
Server-side (streaming) cursors keep the stock behaviour. `orderbot.db.Database` keeps it for work that must not
run on the event loop (heavy reads, migrations, checkpoints); short reads and writes go through `sqlite_inline`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)


def run_statement(conn: sqlite3.Connection, operation: str, parameters, many: bool):
    """Execute, fetch everything and close in one go: (description, rowcount, lastrowid, rows)."""
    cur = conn.cursor()
    try:
        if many:
            cur.executemany(operation, parameters)
        elif parameters is None:
            cur.execute(operation)
        else:
            cur.execute(operation, parameters)
        rows = cur.fetchall() if cur.description else []
        return cur.description, cur.rowcount, cur.lastrowid, rows
    finally:
        cur.close()


class _OneHopCursor:
    """Looks like an aiosqlite cursor to SQLAlchemy; does each call in a single trip to the thread."""

    arraysize = 1

    def __init__(self, connection):
        self._aio = connection  # aiosqlite.Connection
        self.description = None
        self.rowcount = -1
        self.lastrowid = None
        self._rows: list[Any] = []

    async def __aenter__(self):
        return self

    _run = staticmethod(lambda conn, operation, parameters, many: run_statement(conn, operation, parameters, many))

    async def execute(self, operation, parameters=None):
        self.description, self.rowcount, self.lastrowid, self._rows = await self._aio._execute(
            self._run, self._aio._conn, operation, parameters, False
        )
        return self

    async def executemany(self, operation, seq_of_parameters):
        self.description, self.rowcount, self.lastrowid, self._rows = await self._aio._execute(
            self._run, self._aio._conn, operation, seq_of_parameters, True
        )
        return self

    async def fetchall(self):
        rows, self._rows = self._rows, []
        return rows

    async def close(self):
        self._rows = []

    async def nextset(self):
        return None

    async def setinputsizes(self, *sizes):
        return None


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection):
        return _OneHopCursor(connection)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any):
        plain = super().connect(*arg, **kw)  # an AsyncAdapt_aiosqlite_connection around the aiosqlite connection
        plain.__class__ = OneHopConnection
        return plain


class SQLiteDialect_onehop(SQLiteDialect_aiosqlite):
    driver = "aiosqlite_onehop"
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls):
        import aiosqlite

        return OneHopDbapi(aiosqlite, __import__("sqlite3"))


def register() -> None:
    registry.register("sqlite.aiosqlite_onehop", "orderbot.db.sqlite_onehop", "SQLiteDialect_onehop")
