"""`orderbot copy-db`: a seeded SQLite database copied into an empty PostgreSQL (and SQLite) one, row for row,
with PostgreSQL's id sequences moved past the copied ids; a non-empty target is refused."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from orderbot.config import parse_config
from orderbot.tools.copydb import TargetNotEmpty, copy_database
from orderbot.core.models import Base, Order, OrderEvent
from orderbot.core.orders.card import order_card
from orderbot.db.engine import Database
from orderbot.tools.seed import run_seed

from tests.conftest import EXAMPLE_CONFIG, PG_URL

pytestmark = pytest.mark.xdist_group("copydb")  # one pytest-xdist worker seeds the module's source


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("copy") / "source.db"
    url = f"sqlite+aiosqlite:///{path}"
    config = parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    asyncio.run(run_seed(url, orders=400, days=10, seed=2, config=config, progress=False))
    return url


async def _counts(url: str) -> dict[str, int]:
    db = Database.from_url(url)
    try:
        async with db.read() as s:
            return {
                t.name: (await s.execute(select(func.count()).select_from(t))).scalar_one()
                for t in Base.metadata.sorted_tables
            }
    finally:
        await db.dispose()


async def _check_copy(source: str, target: str, config) -> None:
    copied = await copy_database(source, target)
    before, after = await _counts(source), await _counts(target)
    assert before == after and before["orders"] == 400 and before["order_events"] > 400
    assert {c.table: c.rows for c in copied} == before
    for url in (source, target):
        db = Database.from_url(url)
        try:
            async with db.read() as s:
                no = (await s.execute(select(Order.order_no).order_by(Order.id).limit(1))).scalar_one()
                cards = await order_card(s, no, roles={"admin"}, rules=config.visibility)
        finally:
            await db.dispose()
        if url == source:
            first = cards
    assert cards == first  # JSON, times and money read back the same
    with pytest.raises(TargetNotEmpty, match="只往空库里复制"):
        await copy_database(source, target)


async def test_copy_into_an_empty_sqlite_file(source, tmp_path, config):
    await _check_copy(source, f"sqlite+aiosqlite:///{tmp_path / 'target.db'}", config)


@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="ORDERBOT_TEST_PG_URL is not set: PostgreSQL cases skip locally")
async def test_copy_sqlite_into_an_empty_postgresql_database(source, config):
    name = f"copy_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    target = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await _check_copy(source, target, config)
        db = Database.from_url(target)
        try:  # the sequence moved past the copied ids: a new row gets a fresh id
            async with db.write() as s:
                top = (await s.execute(select(func.max(OrderEvent.id)))).scalar_one()
                event = OrderEvent(order_id=1, at=func.now(), kind="note", source="test")
                s.add(event)
                await s.flush()
                assert event.id > top
        finally:
            await db.dispose()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
