"""Stock in and held orders from chat, through the dispatcher (permission, savepoint, audit) with intents built
directly (the parser learns these words in its own change), and the buttons on the replies."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from orderbot.bot.dispatch import Dispatcher
from orderbot.bot.intents import Intent
from orderbot.core.models import AuditEntry, Order
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import get_order, ingest_order, set_channel_frozen
from orderbot.core.staff import sync_staff
from orderbot.core.stock import ledger
from orderbot.messaging.inbound import CardAction, ChatMessage, Origin

from tests.helpers import add_products, order_json


class ScriptedParser:
    """A parser port that understands exactly the texts it was given (a fake, not a patch)."""

    def __init__(self, script: dict[str, Intent]):
        self.script = script

    def parse(self, text, now):
        return self.script.get(text, Intent.unknown())

    def closest_intents(self, text, allowed=None, k=3):
        return []


SCRIPT = {
    "入库 PB-20K-BLK 500 批次B2612": Intent("stock.receive", {"sku": "PB-20K-BLK", "qty": 500, "batch": "B2612"}, 0.95),
    "盘点 PB-20K-BLK 实际 480": Intent("stock.count", {"sku": "PB-20K-BLK", "qty": 480}, 0.95),
    "审核通过 SO202602010002": Intent("order.release_review", {"order_ref": "SO202602010002", "channel": None}, 0.95),
    "放行Temu待审核订单": Intent("order.release_review", {"order_ref": None, "channel": "temu"}, 0.95),
    "解冻Temu": Intent("channel.unfreeze", {"channel": "temu"}, 0.95),
}


class Chat:
    def __init__(self, db, config, clock):
        self.db, self.clock, self.n = db, clock, 0
        self.dispatcher = Dispatcher(db, ScriptedParser(SCRIPT), config, clock)

    async def _run(self, event):
        prepared = await self.dispatcher.prepare(event)
        async with self.db.write() as s:
            return await self.dispatcher(event, s, prepared)

    async def ask(self, who, text):
        self.n += 1
        return await self._run(ChatMessage(Origin("sandbox", who), text, f"m{self.n}", self.clock()))

    async def say(self, who, text):
        """Type a message; a typed write first shows what will happen, and the asker confirms it."""
        reply = await self.ask(who, text)
        confirm = [b.key for b in (reply.card.buttons if reply.card else ()) if b.key.startswith("confirm:")]
        return await self.click(who, confirm[0]) if confirm else reply

    async def click(self, who, key):
        self.n += 1
        return await self._run(CardAction(Origin("sandbox", who), key, f"c{self.n}", self.clock()))


@pytest.fixture
async def chat(db, config, clock):
    async with db.write() as s:
        await sync_staff(s, config)
        await add_products(s, config, stock=0, at=clock())
    return Chat(db, config, clock)


async def _ingest(db, config, clock, no, day, channel="shopify", qty=100):
    async with db.write() as s:
        await ingest_order(
            s,
            parse_order(
                order_json(
                    no,
                    channel=channel,
                    channel_order_id=f"#{no[-4:]}",
                    created_at=f"2026-02-{day:02d}T10:00:00+08:00",
                    lines=[{"sku": "PB-20K-BLK", "qty": qty}],
                )
            ),
            source="test",
            config=config,
            now=clock(),
        )


async def test_receive_by_chat_releases_waiting_orders_and_refuses_others(chat, db, config, clock):
    await _ingest(db, config, clock, "SO202602010002", 2)
    await _ingest(db, config, clock, "SO202602010001", 1)
    refused = await chat.say("wanglei", "入库 PB-20K-BLK 500 批次B2612")
    assert "仓库" in refused.text and "权限" in refused.text
    reply = await chat.say("zhangsan", "入库 PB-20K-BLK 500 批次B2612")
    assert "已入库 PB-20K-BLK ×500（批次 B2612）" in reply.text
    assert "放行 2 单" in reply.text and "SO202602010001、SO202602010002" in reply.text
    assert "可用 300" in reply.text
    again = await chat.say("zhangsan", "入库 PB-20K-BLK 500 批次B2612")
    assert "已经入过库" in again.text
    async with db.read() as s:
        level = await ledger.levels(s, "PB-20K-BLK")
        assert (level.on_hand, level.reserved) == (500, 200)
        audit = (await s.execute(select(AuditEntry.actor).where(AuditEntry.action == "stock.receive"))).scalars().all()
        assert audit == ["zhangsan", "zhangsan"]


async def test_a_typed_receipt_and_count_say_what_will_happen_before_they_run(chat, db, config, clock):
    await _ingest(db, config, clock, "SO202602010001", 1)
    asked = await chat.ask("zhangsan", "入库 PB-20K-BLK 500 批次B2612")
    assert "将入库 PB-20K-BLK ×500（批次 B2612）：在库 0 → 500" in asked.text and "等待这个SKU到货的 1 单" in asked.text
    async with db.read() as s:
        assert (await ledger.levels(s, "PB-20K-BLK")).on_hand == 0  # nothing booked before the confirm
    counted = await chat.ask("zhaoqiang", "盘点 PB-20K-BLK 实际 480")
    assert "账面库存 0 调整为 480（差额 +480）" in counted.text


async def test_count_by_chat_is_for_leads(chat, db):
    await chat.click("zhaoqiang", "noop:x")  # an unknown button changes nothing
    refused = await chat.say("zhangsan", "盘点 PB-20K-BLK 实际 480")
    assert "仓库组长" in refused.text
    reply = await chat.say("zhaoqiang", "盘点 PB-20K-BLK 实际 480")
    assert "账面 0，实盘 480" in reply.text and "+480" in reply.text
    async with db.read() as s:
        assert (await ledger.levels(s, "PB-20K-BLK")).on_hand == 480


async def test_held_orders_listed_released_one_all_and_cancelled_by_rule_owners(chat, db, config, clock):
    async with db.write() as s:
        await ledger.receive(s, "PB-20K-BLK", 250, at=clock(), actor="t")
        await set_channel_frozen(s, "temu", True, actor="heping", reason="取消率过高", now=clock())
    for no, day in (("SO202602010001", 1), ("SO202602010002", 2), ("SO202602010003", 3), ("SO202602010004", 4)):
        await _ingest(db, config, clock, no, day, channel="temu")
    async with db.read() as s:
        assert (await get_order(s, "SO202602010001")).review_hold

    unfrozen = await chat.say("heping", "解冻Temu")
    assert "待审核的订单 4 单" in unfrozen.text
    assert [b.key for b in unfrozen.card.buttons] == ["release_held:temu", "held_list:temu"]
    assert unfrozen.card.buttons[0].text == "放行全部 4 单"

    listing = await chat.click("heping", "held_list:temu")
    assert [r[0] for r in listing.table.rows] == [
        "SO202602010001",
        "SO202602010002",
        "SO202602010003",
        "SO202602010004",
    ]
    assert "cancel_held:SO202602010001" in [b.key for b in listing.card.buttons]

    seen = await chat.say("wanglei", "待审核订单")  # sales may look, not decide: no buttons
    assert len(seen.table.rows) == 4 and seen.card is None and "共 4 单" in seen.text
    refused = await chat.say("wanglei", "审核通过 SO202602010002")
    assert "取消率规则的负责人" in refused.text
    one = await chat.say("heping", "审核通过 SO202602010002")
    assert "已放行 1 单" in one.text and "SO202602010002" in one.text
    cancelled = await chat.click("heping", "cancel_held:SO202602010001")
    assert "已取消待审核订单 SO202602010001" in cancelled.text
    rest = await chat.click("heping", "release_held:temu")
    assert "已放行 2 单" in rest.text
    assert "已预留库存进入履约：SO202602010003" in rest.text and "转采购计划：SO202602010004" in rest.text

    async with db.read() as s:
        orders = {o.order_no: o for o in (await s.execute(select(Order))).scalars()}
        assert not any(o.review_hold for o in orders.values())
        assert orders["SO202602010001"].status == "cancelled"
        assert (orders["SO202602010002"].stage, orders["SO202602010003"].stage, orders["SO202602010004"].stage) == (
            "inventory",
            "inventory",
            "purchase",
        )
        assert await ledger.held_for_order(s, "SO202602010002") == {"PB-20K-BLK": 100}
        assert await ledger.held_for_order(s, "SO202602010004") == {}
        audited = (
            (
                await s.execute(
                    select(AuditEntry.subject)
                    .where(AuditEntry.action == "order.release_review")
                    .order_by(AuditEntry.id)
                )
            )
            .scalars()
            .all()
        )
        assert {"SO202602010002", "SO202602010003", "SO202602010004"} <= set(audited)
        assert (
            await s.execute(select(AuditEntry.actor).where(AuditEntry.action == "order.cancel_review"))
        ).scalar_one() == "heping"
    empty = await chat.click("heping", "held_list:temu")
    assert "没有待审核的订单" in empty.text
