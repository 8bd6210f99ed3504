"""The test harness itself (tests/conftest.py). The seeded worlds (`Snapshots`) on SQLite and PostgreSQL: a world
copied in is the world the seed wrote, row for row, and what is written next gets the same ids as after the seed
itself. The apps a test builds are released after it (`release_apps`), not kept alive by aiohttp's caches."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from orderbot.core.models import Base
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import change_status, get_order, ingest_order
from orderbot.db.engine import sqlite_path

from tests.conftest import _EMPTIERS, Snapshots, _sqlite_backup, release_apps
from tests.helpers import add_products, order_json


async def _rows(db) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    out = {}
    async with db.read() as s:
        for table in Base.metadata.sorted_tables:
            rows = await s.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


async def _empty(db, template) -> None:
    """Back to the empty, migrated database the `db` fixture hands out."""
    path = sqlite_path(db.engine.url)
    if path is not None:
        await db.dispose()
        _sqlite_backup(template, path)
        return
    async with db.engine.begin() as conn:
        schema = (await conn.exec_driver_sql("SELECT current_schema()")).scalar_one()
        await _EMPTIERS[schema].empty(conn)


async def test_a_world_copied_in_is_the_seeded_one_and_ids_go_on_alike(db, config, clock, sqlite_template, tmp_path):
    snapshots = Snapshots(tmp_path)
    runs = []

    async def build() -> None:
        runs.append(1)
        async with db.write() as s:
            await add_products(s, config, at=clock())
            for no in ("SO202602100001", "SO202602100002"):
                await ingest_order(s, parse_order(order_json(no)), source="test", config=config, now=clock())
            await change_status(s, await get_order(s, "SO202602100001"), "shipped", now=clock(), source="scan")

    async def then() -> dict[str, list[tuple]]:  # one more order after the world: its ids come from the sequences
        async with db.write() as s:
            await ingest_order(s, parse_order(order_json("SO202602100003")), source="test", config=config, now=clock())
        return await _rows(db)

    try:
        await snapshots.seed(db, "world", build)
        seeded = await _rows(db)
        after_seed = await then()
        await _empty(db, sqlite_template)
        assert not any((await _rows(db)).values())

        await snapshots.seed(db, "world", build)
        assert runs == [1]  # copied in, not seeded again
        assert await _rows(db) == seeded
        assert await then() == after_seed
        assert len(after_seed["orders"]) == 3 and after_seed["order_events"] and after_seed["stock_movements"]
    finally:
        await asyncio.to_thread(snapshots.drop)  # its own event loop, as at the end of a session


async def _served_app() -> weakref.ref:
    """An app with a middleware (what makes aiohttp cache its chain), served one request and closed."""

    @web.middleware
    async def passthrough(request, handler):
        return await handler(request)

    async def hello(request):
        return web.Response(text="ok")

    app = web.Application(middlewares=[passthrough])
    app.router.add_get("/", hello)
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/")).status == 200
    return weakref.ref(app)


async def test_an_app_a_test_built_is_released_after_it():
    gc.freeze()  # the collections below walk what this test builds, not the session's whole heap (~0.5 s each)
    try:
        app = await _served_app()
        gc.collect()
        if hasattr(sys.modules["aiohttp.web_app"], "_cached_build_middleware"):
            assert app() is not None  # the control: aiohttp's cache holds it, so the check below means something
        release_apps()
        gc.collect()
        assert app() is None
    finally:
        gc.unfreeze()
