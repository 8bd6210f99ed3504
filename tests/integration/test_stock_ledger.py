"""The stock ledger under concurrent writers: exact on SQLite and PostgreSQL, never oversold."""

from __future__ import annotations

import asyncio
import random

import pytest

from orderbot.core.errors import DomainError, InsufficientStock, UnknownSku
from orderbot.core.stock import ledger

from tests.helpers import add_products

SKU = "PB-20K-BLK"


async def test_many_writers_reserving_the_same_sku_stay_exact(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, stock=100, at=clock())
    outcomes: list[str] = []

    async def one(i: int) -> None:
        try:
            async with db.write() as s:
                await ledger.reserve(s, SKU, 3, at=clock(), order_no=f"SO{i:014d}")
            outcomes.append("ok")
        except InsufficientStock:
            outcomes.append("short")

    await asyncio.gather(*(one(i) for i in range(40)))
    assert outcomes.count("ok") == 33 and outcomes.count("short") == 7
    async with db.read() as s:
        lv = await ledger.levels(s, SKU)
        assert (lv.on_hand, lv.reserved, lv.available) == (100, 99, 1)
        assert await ledger.ledger_totals(s, SKU) == (100, 99)


@pytest.mark.slow
async def test_mixed_concurrent_movements_keep_ledger_equal_to_levels(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, stock=500, at=clock())
    rng = random.Random(7)

    async def worker(w: int) -> None:
        for i in range(15):
            order_no = f"SO{w:04d}{i:010d}"
            try:
                async with db.write() as s:
                    # read before writing: with a deferred BEGIN, SQLite fails such a unit on lock upgrade
                    before = await ledger.levels(s, SKU)
                    qty = min(rng.randint(1, 5), max(before.available, 1))
                    await asyncio.sleep(0)
                    await ledger.reserve(s, SKU, qty, at=clock(), order_no=order_no)
                    held = await ledger.held_for_order(s, order_no)
                    if i % 3 == 0:
                        await ledger.release(s, SKU, held[SKU], at=clock(), order_no=order_no)
                    elif i % 3 == 1:
                        await ledger.ship(s, SKU, held[SKU], at=clock(), order_no=order_no)
            except InsufficientStock:
                pass
            if i % 5 == 0:
                async with db.write() as s:
                    await ledger.receive(s, SKU, 2, at=clock(), actor=f"w{w}")

    await asyncio.gather(*(worker(w) for w in range(8)))
    async with db.read() as s:
        lv = await ledger.levels(s, SKU)
        assert await ledger.ledger_totals(s, SKU) == (lv.on_hand, lv.reserved)
        assert 0 <= lv.reserved <= lv.on_hand


async def test_guards_refuse_impossible_movements(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, stock=5, at=clock())
    with pytest.raises(InsufficientStock, match="可用库存不足：需要 6，可用 5"):
        async with db.write() as s:
            await ledger.reserve(s, SKU, 6, at=clock(), order_no="SO1")
    with pytest.raises(DomainError, match="预留数量不足"):
        async with db.write() as s:
            await ledger.ship(s, SKU, 1, at=clock(), order_no="SO1")
    async with db.write() as s:
        await ledger.reserve(s, SKU, 4, at=clock(), order_no="SO1")
    with pytest.raises(InsufficientStock):  # a stock-take may not leave less on hand than is reserved
        async with db.write() as s:
            await ledger.adjust(s, SKU, -2, at=clock(), actor="lead", note="盘亏")
    with pytest.raises(UnknownSku):
        async with db.write() as s:
            await ledger.receive(s, "NOPE", 1, at=clock())
    async with db.write() as s:
        await ledger.ship(s, SKU, 4, at=clock(), order_no="SO1")
        await ledger.return_goods(s, SKU, 1, at=clock(), order_no="SO1")
        await ledger.adjust(s, SKU, -1, at=clock(), actor="lead", note="盘亏")
    async with db.read() as s:
        lv = await ledger.levels(s, SKU)
        assert (lv.on_hand, lv.reserved) == (1, 0)
        assert await ledger.ledger_totals(s, SKU) == (1, 0)
        assert await ledger.held_for_order(s, "SO1") == {}
