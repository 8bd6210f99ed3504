"""Small dialect bridges so core use cases run unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Executable, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

#: The values of one row for a Core statement, keyed by column name.
RowValues = Mapping[str, Any]


def dialect_name(session: AsyncSession) -> str:
    """The name of the dialect the session talks to ("sqlite" or "postgresql")."""
    # Sessions come from the units of work in `db/`, whose sessionmaker is always bound to the engine.
    assert session.bind is not None, "session is not bound to an engine"
    return session.bind.dialect.name


def affected_rows(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an INSERT, UPDATE or DELETE run through `AsyncSession.execute` touched.

    `AsyncSession.execute` is typed to return a `Result`; for a DML statement it is always a `CursorResult`,
    which is what carries `rowcount`."""
    return cast(CursorResult[Any], result).rowcount


def insert_ignore(
    session: AsyncSession, table: Table, rows: Sequence[RowValues], index_elements: Sequence[str]
) -> PgInsert | SqliteInsert:
    """`INSERT … ON CONFLICT (index_elements) DO NOTHING` for the session's dialect.

    One row is given as a plain `values(row)`, which SQLAlchemy compiles once and caches; a multi-row VALUES
    statement cannot be cached and is compiled on every call (a few hundred microseconds each)."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
    values = rows[0] if len(rows) == 1 else rows
    return dialect_insert(table).values(values).on_conflict_do_nothing(index_elements=index_elements)


async def run_core(
    session: AsyncSession, statement: Executable, params: RowValues | Sequence[RowValues] | None = None
) -> CursorResult[Any]:
    """A prebuilt Core statement on the session's connection, inside its transaction: a third of what
    `AsyncSession.execute` costs, for the statements of the hottest paths (build them once at module level, so
    SQLAlchemy compiles them once)."""
    return await session.run_sync(lambda sync: sync.connection().execute(statement, params))


def insert_once_statements(table: Table, index_elements: Sequence[str]) -> dict[str, PgInsert | SqliteInsert]:
    """`INSERT … ON CONFLICT (index_elements) DO NOTHING` for one row, prebuilt per dialect name."""
    return {
        "sqlite": sqlite.insert(table).on_conflict_do_nothing(index_elements=index_elements),
        "postgresql": postgresql.insert(table).on_conflict_do_nothing(index_elements=index_elements),
    }
