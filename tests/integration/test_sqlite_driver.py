"""The SQLite driver choice: the private drivers only on the releases they were written for, the stock
sqlite+aiosqlite driver otherwise or when chosen, and the same units of work on both."""

from __future__ import annotations

import asyncio
import os
from importlib import metadata

import pytest
from sqlalchemy import select, text

from orderbot.messaging.reply import Reply
from orderbot.core import outbox
from orderbot.core.models import OutboxMessage
from orderbot.db import driver_compat
from orderbot.db.engine import Database, make_engine, set_sqlite_driver
from orderbot.db.migrate import upgrade
from orderbot.settings import load_settings


def test_auto_uses_the_private_drivers_only_on_the_releases_they_name():
    installed = {name: metadata.version(name) for name in driver_compat.WRITTEN_FOR}
    matches = all(".".join(installed[n].split(".")[:2]) == s for n, s in driver_compat.WRITTEN_FOR.items())
    driver, why = driver_compat.resolve("auto")
    if matches and not driver_compat.missing_names():
        assert (driver, why) == ("inline", None)
    else:  # e.g. the CI job on the declared minimum versions
        assert driver == "stock" and why
    assert driver_compat.resolve("stock") == ("stock", "ORDERBOT_SQLITE_DRIVER=stock")
    with pytest.raises(ValueError, match="ORDERBOT_SQLITE_DRIVER"):
        driver_compat.resolve("fast")


def test_a_release_of_another_series_is_named_in_the_reason(monkeypatch):
    monkeypatch.setitem(driver_compat.WRITTEN_FOR, "sqlalchemy", "1.4")
    problem = driver_compat.private_driver_problem()
    assert problem is not None and "written for 1.4.x" in problem
    assert driver_compat.resolve("auto")[0] == "stock"


def test_the_setting_is_validated_and_reaches_the_engine_module():
    assert load_settings(env_file=None, ORDERBOT_SQLITE_DRIVER="stock").sqlite_driver == "stock"
    with pytest.raises(Exception, match="ORDERBOT_SQLITE_DRIVER"):
        load_settings(env_file=None, ORDERBOT_SQLITE_DRIVER="turbo")
    with pytest.raises(ValueError):
        set_sqlite_driver("turbo")


async def test_the_stock_driver_runs_the_same_units_of_work(tmp_path, clock):
    url = f"sqlite+aiosqlite:///{tmp_path / 'stock.db'}"
    engine = make_engine(url, driver="stock")
    await upgrade(engine)
    await engine.dispose()
    db = Database.from_url(url, driver="stock")
    try:
        assert db.engine.dialect.driver == "aiosqlite" and db.inline is None and not db.raw_sqlite
        async with db.read() as s:
            assert (await s.execute(text("PRAGMA journal_mode"))).scalar() == "wal"

        async def enqueue(i: int) -> None:
            async with db.write() as s:
                await outbox.enqueue(
                    s,
                    channel="wecom",
                    destination=f"user:U{i}",
                    kind="reply",
                    payload=Reply(text=f"m{i}").to_dict(),
                    now=clock(),
                    dedupe_key=f"k{i % 10}",
                )

        await asyncio.gather(*(enqueue(i) for i in range(30)))  # concurrent writers, serialised, none lost
        async with db.write() as s:
            claimed = await outbox.claim_due(s, clock(), limit=100)
        assert len(claimed) == 10 and {c.attempts for c in claimed} == {1}
        async with db.read(heavy=True) as s:
            assert (await s.execute(select(OutboxMessage.id))).scalars().all() == [c.id for c in claimed]
        with pytest.raises(RuntimeError):  # a nested write in the same task would wait for itself
            async with db.write():
                async with db.write():
                    pass
    finally:
        await db.dispose()


async def test_the_inline_choice_refuses_packages_that_lack_a_private_name(monkeypatch):
    monkeypatch.setattr(
        driver_compat, "PRIVATE_NAMES", driver_compat.PRIVATE_NAMES + (("aiosqlite", "Connection._no_such_name"),)
    )
    with pytest.raises(RuntimeError, match="_no_such_name"):
        driver_compat.resolve("inline")


async def test_the_db_fixture_runs_on_the_driver_asked_for(db):
    """`ORDERBOT_SQLITE_DRIVER=stock pytest …` runs every SQLite case on the stock driver (CI does a subset)."""
    if db.dialect != "sqlite":
        return
    choice = os.environ.get("ORDERBOT_SQLITE_DRIVER") or "auto"
    expected = "aiosqlite" if driver_compat.resolve(choice)[0] == "stock" else "aiosqlite_onehop"
    assert db.engine.dialect.driver == expected
