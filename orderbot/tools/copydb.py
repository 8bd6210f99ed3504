"""`orderbot copy-db`: move everything from one database to another (SQLite → PostgreSQL when a team outgrows
the embedded default). Both sides are brought to the latest schema first; the target must be empty. Tables are
copied parent before child in batches through SQLAlchemy's own types (so JSON, times and money keep their
meaning), then PostgreSQL's id sequences are moved past the copied ids. Alembic's version table is not copied:
`upgrade` already put the target at the same revision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text

from orderbot.core.models import Base
from orderbot.db.engine import Database
from orderbot.db.migrate import upgrade

BATCH = 5000


@dataclass
class Copied:
    table: str
    rows: int


class TargetNotEmpty(Exception):
    pass


def _is_int(column) -> bool:
    try:
        return column.type.python_type is int
    except NotImplementedError:
        return False


async def copy_database(
    source_url: str, target_url: str, *, progress: Callable[[str, int], None] | None = None
) -> list[Copied]:
    source, target = Database.from_url(source_url), Database.from_url(target_url)
    try:
        await upgrade(source.engine)
        await upgrade(target.engine)
        tables = Base.metadata.sorted_tables
        async with target.read() as s:
            for table in tables:
                if (await s.execute(select(func.count()).select_from(table))).scalar_one():
                    raise TargetNotEmpty(f"目标数据库的 {table.name} 表已有数据：copy-db 只往空库里复制")
        out = []
        for table in tables:
            n = 0
            async with source.read(heavy=True) as src, target.write(heavy=True) as dst:
                result = await src.stream(select(table).order_by(*table.primary_key.columns))
                async for chunk in result.mappings().partitions(BATCH):
                    await dst.execute(insert(table), [dict(row) for row in chunk])
                    n += len(chunk)
                    if progress is not None:
                        progress(table.name, n)
            out.append(Copied(table.name, n))
        if target.dialect == "postgresql":
            async with target.write() as dst:
                for table in tables:
                    columns = list(table.primary_key.columns)
                    if len(columns) == 1 and _is_int(columns[0]):
                        column = columns[0]
                        await dst.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                                f"GREATEST((SELECT max({column.name}) FROM {table.name}), 1))"
                            )
                        )
        return out
    finally:
        await source.dispose()
        await target.dispose()
