"""The staff directory copy: synced from the config, people who left deactivated, never emptied by mistake."""

from __future__ import annotations

from sqlalchemy import select

from orderbot.config import BusinessConfig, parse_config
from orderbot.core.models import Staff
from orderbot.core.staff import sync_staff


async def test_sync_adds_updates_deactivates_and_ignores_an_empty_directory(db, config):
    async with db.write() as s:
        assert await sync_staff(s, config) == len(config.staff)
    smaller = parse_config('[[staff]]\nid = "wanglei"\nname = "王磊（销售）"\nroles = ["sales", "key_account"]\n')
    async with db.write() as s:
        await sync_staff(s, smaller)
    async with db.read() as s:
        rows = {r.id: r for r in (await s.execute(select(Staff))).scalars()}
    assert rows["wanglei"].active and rows["wanglei"].name == "王磊（销售）"
    assert rows["wanglei"].roles == ["sales", "key_account"]
    assert not rows["zhangsan"].active and len(rows) == len(config.staff)
    async with db.write() as s:
        assert await sync_staff(s, BusinessConfig()) == 0  # a missing config must not deactivate everyone
    async with db.read() as s:
        assert (await s.get(Staff, "wanglei")).active
