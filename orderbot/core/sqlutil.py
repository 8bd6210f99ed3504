"""Small dialect bridges so core use cases run unchanged on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignore(session: AsyncSession, table: Table, rows: list[dict], index_elements: list[str]):
    """`INSERT … ON CONFLICT (index_elements) DO NOTHING` for the session's dialect."""
    name = session.bind.dialect.name if session.bind is not None else "sqlite"
    dialect_insert = postgresql.insert if name == "postgresql" else sqlite.insert
    return dialect_insert(table).values(rows).on_conflict_do_nothing(index_elements=index_elements)


async def run_core(session: AsyncSession, statement, params: dict | None = None):
    """A prebuilt Core statement on the session's connection, inside its transaction: a third of what
    `AsyncSession.execute` costs, for the statements of the hottest paths (build them once at module level, so
    SQLAlchemy compiles them once)."""
    return await session.run_sync(lambda sync: sync.connection().execute(statement, params))


def insert_once_statements(table: Table, index_elements: list[str]) -> dict:
    """`INSERT … ON CONFLICT (index_elements) DO NOTHING` for one row, prebuilt per dialect name."""
    return {
        name: dml.insert(table).on_conflict_do_nothing(index_elements=index_elements)
        for name, dml in (("sqlite", sqlite), ("postgresql", postgresql))
    }
