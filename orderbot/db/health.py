"""What `/healthz` asks the database: does it answer, and may it be written. Errors (`SQLAlchemyError`, `OSError`)
reach the caller, which reports them."""

from __future__ import annotations

from sqlalchemy import text

from orderbot.db.engine import Database


async def answers_read_only(db: Database) -> bool:
    """Run a trivial query; True when the database answers but refuses writes (PostgreSQL: a read-only replica
    or `default_transaction_read_only`). SQLite's file checks live with the file (`webhooks/dbfile.py`)."""
    async with db.read() as s:
        await s.execute(text("SELECT 1"))
        if db.dialect != "postgresql":
            return False
        return (await s.execute(text("SHOW transaction_read_only"))).scalar() != "off"
