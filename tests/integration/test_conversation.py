"""The conversation on SQLite and PostgreSQL, through the inbound pipeline: a typed write waits for its asker's
确认 (once, 10 minutes, only them), 取消 and typed 1 / 0, the ask-back buttons, the new questions on live data."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from orderbot.bot.confirm import Reading
from orderbot.bot.dispatch import Dispatcher
from orderbot.bot.intents import Intent
from orderbot.messaging.reply import Reply
from orderbot.core.models import AuditEntry, Channel, Customer, Order, Package, Task
from orderbot.messaging.inbound import CardAction, ChatMessage, Origin
from orderbot.messaging.pipeline import InboundPipeline

from tests.integration.test_reports import NOW, staffed_business  # noqa: F401  (the fixture)


class FakeParser:
    """Readings chosen by the test for some texts; every other text goes to the real parser."""

    def __init__(self, real, readings: dict[str, list]):
        self.real, self.readings = real, readings

    def parse(self, text: str, now: datetime):
        return self.readings[text][0] if text in self.readings else self.real.parse(text, now)

    def candidates(self, text: str, now: datetime, k: int = 2) -> list:
        return self.readings[text][:k] if text in self.readings else [self.real.parse(text, now)]

    def closest_intents(self, text: str, allowed=None, k: int = 3) -> list[str]:
        return self.real.closest_intents(text, allowed=allowed, k=k)


READINGS = {
    "速卖通那个冻结": [
        Intent("channel.unfreeze", {"channel": "aliexpress"}, 0.41),
        Intent("channel.freeze", {"channel": "aliexpress"}, 0.38),
    ],
    "订单那个咋样了": [
        Intent("report.pipeline", {"channel": None}, 0.4),
        Intent("channel.freeze", {"channel": "temu"}, 0.3),
    ],
    "延误的单": [
        Reading(
            "order.list",
            {
                "filter": "delayed",
                "date_from": "2026-02-06",
                "date_to": "2026-02-06",
                "region": None,
                "channel": None,
                "customer": None,
                "limit": 2,
            },
        )
    ],
    "what can you do": [Intent("help", {}, 0.95)],
}


def _listing(name: str, **slots) -> Reading:
    base = {
        "filter": name,
        "date_from": "2026-02-04",
        "date_to": "2026-02-10",
        "region": None,
        "channel": None,
        "customer": None,
        "limit": 20,
    }
    return Reading("order.list", {**base, **slots})


class Bot:
    def __init__(self, db, config, parser):
        self.now = NOW
        self.db = db
        self.pipeline = InboundPipeline(db, Dispatcher(db, parser, config, lambda: self.now), lambda: self.now)
        self.n = 0

    def _origin(self, who: str, chat: str | None) -> Origin:
        return Origin(
            "sandbox", who, chat, reply_channel="sandbox", reply_to=f"group:{chat}" if chat else f"user:{who}"
        )

    async def ask(self, who: str, text: str, chat: str | None = None) -> Reply:
        self.n += 1
        return (await self.pipeline.process(ChatMessage(self._origin(who, chat), text, f"m{self.n}", self.now))).reply

    async def click(self, who: str, key: str, chat: str | None = None) -> Reply:
        self.n += 1
        return (await self.pipeline.process(CardAction(self._origin(who, chat), key, f"c{self.n}", self.now))).reply

    async def frozen(self, code: str) -> bool:
        async with self.db.read() as s:
            channel = await s.get(Channel, code)
            return channel is not None and channel.frozen

    async def audits(self, action: str) -> int:
        async with self.db.read() as s:
            return (
                await s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))
            ).scalar()


@pytest.fixture
async def bot(staffed_business, config, static_parser):  # noqa: F811
    return Bot(staffed_business, config, FakeParser(static_parser, READINGS))


def _keys(reply: Reply) -> dict[str, str]:
    return {b.text: b.key for b in reply.card.buttons}


async def test_a_typed_write_waits_for_its_askers_confirm_and_runs_once(bot):
    asked = await bot.ask("heping", "冻结TikTok渠道")
    assert asked.text.startswith("将冻结 TikTok Shop 渠道：从现在起这个渠道的新订单先进入待审核")
    assert "回复 1 确认" in asked.text and set(_keys(asked)) == {"确认", "取消"}
    assert not await bot.frozen("tiktok")  # nothing happened yet
    done = await bot.click("heping", _keys(asked)["确认"])
    assert done.text.startswith("已冻结 TikTok Shop 渠道") and await bot.frozen("tiktok")
    again = await bot.click("heping", _keys(asked)["确认"])
    assert again.text == "这个请求已处理过，不会重复执行。"
    assert await bot.audits("channel.freeze") == 2  # the channel's own audit row and the dispatcher's: once


async def test_only_the_asker_may_confirm(bot):
    asked = await bot.ask("heping", "冻结TikTok渠道")
    refused = await bot.click("sunli", _keys(asked)["确认"])  # someone else in the company
    assert refused.text.startswith("只有发起这个操作的本人可以确认") and not await bot.frozen("tiktok")
    assert (await bot.click("heping", _keys(asked)["确认"])).text.startswith("已冻结")


async def test_after_ten_minutes_it_has_expired(bot):
    asked = await bot.ask("heping", "冻结TikTok渠道")
    bot.now = NOW + timedelta(minutes=10, seconds=1)
    late = await bot.click("heping", _keys(asked)["确认"])
    assert late.text.startswith("这个确认已过期（10 分钟内有效）") and not await bot.frozen("tiktok")


async def test_cancel_does_nothing_and_closes_it(bot):
    asked = await bot.ask("heping", "冻结TikTok渠道")
    assert (await bot.click("heping", _keys(asked)["取消"])).text == "已取消，没有执行任何操作。"
    assert (await bot.click("heping", _keys(asked)["确认"])).text.startswith("这个请求已取消")
    assert not await bot.frozen("tiktok") and await bot.audits("channel.freeze") == 0


async def test_reply_1_confirms_in_a_group_without_buttons_and_0_cancels(bot):
    await bot.ask("heping", "冻结TikTok渠道", chat="ops")
    other = await bot.ask("sunli", "1", chat="ops")  # nothing waits for sunli: not a confirmation
    assert not other.text.startswith("已冻结") and not await bot.frozen("tiktok")
    assert (await bot.ask("heping", "1", chat="ops")).text.startswith("已冻结 TikTok Shop 渠道")
    assert (await bot.ask("heping", "1", chat="ops")).text == "这个请求已处理过，不会重复执行。"
    await bot.ask("heping", "静默取消率告警2小时", chat="ops")
    assert (await bot.ask("heping", "取消", chat="ops")).text == "已取消，没有执行任何操作。"
    assert await bot.audits("alert.mute") == 0 and await bot.audits("channel.freeze") == 2


async def test_the_preview_says_old_and_new_date_and_refuses_what_cannot_be_done(bot):
    asked = await bot.ask("zhoumin", "SO202602010003 预计交付改为3月5日")
    assert asked.text.startswith("将把 SO202602010003（客户C1，已付款 · 库存池） 的预计交付从 2月6日 改为 3月5日")
    async with bot.db.read() as s:
        assert (
            await s.execute(select(Order.promised_override).where(Order.order_no == "SO202602010003"))
        ).scalar() is None
    nothing = await bot.ask("heping", "解冻速卖通")
    assert nothing.text == "速卖通 渠道没有被冻结，不用解冻。" and nothing.card is None
    missing = await bot.ask("chenjing", "SO209912310001 卡关")
    assert missing.text.startswith("没有找到订单 SO209912310001") and missing.card is None


async def test_ask_back_offers_two_readings_and_a_picked_write_still_asks_to_confirm(bot):
    asked = await bot.ask("heping", "速卖通那个冻结")
    assert asked.text.startswith("你是想：\n1. 解冻渠道（渠道 速卖通）\n2. 冻结渠道新订单（渠道 速卖通）")
    picked = await bot.click("heping", asked.card.buttons[1].key)
    assert picked.text.startswith("将冻结 速卖通 渠道") and not await bot.frozen("aliexpress")
    assert (await bot.click("heping", asked.card.buttons[1].key)).text == "这个请求已处理过，不会重复执行。"
    assert (await bot.click("heping", _keys(picked)["确认"])).text.startswith("已冻结 速卖通 渠道")
    assert await bot.frozen("aliexpress")


async def test_ask_back_offers_only_what_the_asker_may_do_and_runs_a_picked_read(bot):
    asked = await bot.ask("heping", "订单那个咋样了")  # channel ops may also freeze: two readings
    assert len(asked.card.buttons) == 2
    asked = await bot.ask("wanglei", "订单那个咋样了")  # sales may not freeze: one reading
    assert len(asked.card.buttons) == 1
    answer = await bot.ask("wanglei", "1")  # the typed number picks it
    assert answer.title == "此刻订单分布" and "库存池" in answer.text


async def test_order_list_each_filter_on_live_data_filtered_by_role(bot, config):
    async with bot.db.write() as s:
        ids = dict((await s.execute(select(Order.order_no, Order.id))).all())
        await s.execute(
            update(Order)
            .where(Order.order_no == "SO202602010003")
            .values(customs_hold=True, customs_hold_reason="缺少电池鉴定报告", customs_in_at=NOW - timedelta(hours=30))
        )
        await s.execute(
            update(Order)
            .where(Order.order_no == "SO202602010004")
            .values(status="return_requested", return_requested_at=NOW - timedelta(days=3))
        )
        await s.execute(
            update(Order)
            .where(Order.order_no == "SO202602010006")
            .values(review_hold=True, status="pending", stage="payment")
        )
        s.add(
            Task(
                key="customs_docs:SO202602010003",
                type="customs_docs",
                subject="报关资料待补",
                order_id=ids["SO202602010003"],
                created_at=NOW - timedelta(hours=5),
            )
        )
        assert (
            await s.execute(
                select(func.count())
                .select_from(Package)
                .where(  # labels printed, none scanned
                    Package.order_id == ids["SO202602010003"], Package.scanned_at.is_(None)
                )
            )
        ).scalar() > 0
    parser = bot.pipeline.handler.parser
    cases = {
        "customs_stuck": "SO202602010003",
        "docs_missing": "SO202602010003",
        "returns_pending": "SO202602010004",
        "held_review": "SO202602010006",
        "waiting_stock": "SO202602010003",
        "unscanned": "SO202602010003",
    }
    for name, order_no in cases.items():
        parser.readings[f"list {name}"] = [_listing(name)]
        reply = await bot.ask("sunli", f"list {name}")
        assert reply.text.startswith("共 1 单") and f"1. {order_no} · " in reply.text, (name, reply.text)
    customs = await bot.ask("chenjing", "list customs_stuck")
    assert "卡关-人工介入：缺少电池鉴定报告" in customs.text and "30 小时" in customs.text
    packer = await bot.ask("zhangsan", "list customs_stuck")  # the hold's reason is the customs group's field
    assert "卡关-人工介入" in packer.text and "缺少电池鉴定报告" not in packer.text
    parser.readings["华南延误"] = [_listing("delayed", region="华南")]
    south = await bot.ask("sunli", "华南延误")
    assert south.text.startswith("共 1 单") and "SO202602010004 · 客户C2" in south.text and "清关查验" in south.text
    parser.readings["哪些单"] = [_listing(None)]
    assert (await bot.ask("sunli", "哪些单")).text.startswith("要查哪类订单？")


async def test_order_list_shows_twenty_at_most_and_the_rest_in_a_spreadsheet(bot):
    reply = await bot.ask("sunli", "延误的单")  # limit 2 of the 4 due 6 Feb and late
    assert reply.text.startswith("共 4 单") and "另有 2 单，见附件表格。" in reply.text
    assert reply.text.count("\n1. ") + reply.text.count("\n2. ") == 2 and "\n3. " not in reply.text
    (xlsx,) = reply.files
    rows = list(load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "订单号" and sorted(r[0] for r in rows[1:]) == [
        "SO202602010001",
        "SO202602010002",
        "SO202602010003",
        "SO202602010004",
    ]


async def test_customer_orders_asks_which_customer_then_answers(bot):
    async with bot.db.write() as s:
        await s.execute(update(Customer).where(Customer.id == "C1").values(tags=["大客户", "复购"]))
    bot.pipeline.handler.parser.readings["客户C的单"] = [
        Reading("customer.orders", {"customer": "客户C", "date_from": None, "date_to": None})
    ]
    asked = await bot.ask("liuyang", "客户C的单")
    assert asked.text.startswith("有好几个客户名字里有「客户C」，你要查哪一个？") and len(asked.card.buttons) == 3
    picked = await bot.click("liuyang", asked.card.buttons[0].key)
    assert picked.title == "客户C1（C1）" and picked.text.startswith("标签：大客户、复购")
    assert "SO202602010003 · 已付款 · 库存池" in picked.text and "SO202602010005" not in picked.text
    bot.pipeline.handler.parser.readings["C2的单"] = [
        Reading("customer.orders", {"customer": "c2", "date_from": "2026-02-01", "date_to": "2026-02-01"})
    ]
    by_id = await bot.ask("liuyang", "C2的单")
    assert by_id.title == "客户C2（C2）" and "（2 单）" in by_id.text


async def test_report_metric_with_the_previous_period(bot):
    parser = bot.pipeline.handler.parser
    parser.readings["2月1日订单"] = [
        Reading(
            "report.metric",
            {"metric": "orders", "date_from": "2026-02-01", "date_to": "2026-02-01", "channel": None, "region": None},
        )
    ]
    reply = await bot.ask("sunli", "2月1日订单")
    assert "2月1日订单数：**6**" in reply.text and "前一段（1月31日）：0" in reply.text
    parser.readings["华南2月2日发货"] = [
        Reading(
            "report.metric",
            {
                "metric": "shipped",
                "date_from": "2026-02-02",
                "date_to": "2026-02-02",
                "channel": None,
                "region": "华南",
            },
        )
    ]
    south = await bot.ask("sunli", "华南2月2日发货")
    assert "华南区2月2日发货数：**2**" in south.text and "前一段（2月1日）：0" in south.text
    packer = await bot.ask("zhangsan", "2月1日订单")  # the warehouse may ask for figures too
    assert "2月1日订单数：**6**" in packer.text


async def test_help_follows_the_askers_language_and_roles(bot):
    english = await bot.ask("zhangsan", "what can you do")
    assert english.title == "OrderBot help" and "stock of a SKU: how many PB-20K-BLK left" in english.text
    assert "change a promised delivery date" not in english.text
    chinese = await bot.ask("zhoumin", "帮助")
    assert "修改预计交付日期" in chinese.text and "点「确认」（或回复 1）后才执行" in chinese.text


async def test_an_unknown_staff_name_is_asked_back_not_read_as_me(bot):
    bot.pipeline.handler.parser.readings["李雷今天扫码"] = [
        Intent("scan.stats", {"staff": "李雷", "date_from": "2026-02-10", "date_to": "2026-02-10"}, 0.9)
    ]
    reply = await bot.ask("zhangsan", "李雷今天扫码")
    assert reply.text.startswith("员工名录里没有「李雷」，我不会拿你自己的数字代替。你想看谁的扫码统计？")


async def test_the_confirmation_renders_on_every_platform_and_its_keys_come_back(bot, wecom, clock):
    """WeCom app (template card buttons), WeCom group robot (no buttons: 回复 1), DingTalk (button links that
    send '#btn <key>' back as the person): each carries what the dispatcher accepts."""
    import aiohttp
    from aiohttp.test_utils import TestServer
    from urllib.parse import unquote

    from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
    from orderbot.webhooks.dingtalk_msg import BUTTON_PREFIX
    from tests.fakes.dingtalk import FakeDingTalk

    asked = await bot.ask("heping", "冻结TikTok渠道")
    payload = asked.to_dict()
    fake, senders, _api = wecom
    await senders["wecom"].send("user:HePing", "reply", payload, {})
    await senders["wecom_robot"].send("robot:ops-key", "reply", payload, {})
    card = fake.messages[-1]["template_card"]
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [(b.text, b.key) for b in asked.card.buttons]
    (robot,) = fake.robot_messages["ops-key"]
    assert "回复 1 确认、回复 0 取消" in robot["markdown"]["content"]

    ding = FakeDingTalk(clock=lambda: clock().timestamp())
    server = TestServer(ding.app())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            base = str(server.make_url("")).rstrip("/")  # DINGTALK_API_BASE's origin: a trusted session host
            sender = DingTalkSender(
                http, DingTalkApi(http, base=base, app_key="k", app_secret="s"), bot.db, None, clock
            )
            url = f"{base}/robot/sendBySession?session=S1"
            expires = str(int(clock().timestamp() * 1000) + 3_600_000)
            await sender.send(
                "group:cid1", "reply", {**payload, "_route": {"session": url, "session_expires": expires}}, {}
            )
    finally:
        await server.close()
    (sent,) = ding.session_messages["S1"]
    text = unquote(sent["markdown"]["text"])
    confirm_key = asked.card.buttons[0].key
    assert f"content={BUTTON_PREFIX}{confirm_key})" in text and "回复 1 确认" in text
    assert (await bot.click("heping", confirm_key)).text.startswith("已冻结 TikTok Shop 渠道")


async def test_two_clicks_at_once_run_the_write_once(bot):
    import asyncio

    asked = await bot.ask("heping", "冻结TikTok渠道")
    key = _keys(asked)["确认"]
    first, second = await asyncio.gather(bot.click("heping", key), bot.click("heping", key))
    texts = sorted([first.text[:3], second.text])
    assert texts == ["已冻结", "这个请求已处理过，不会重复执行。"] and await bot.audits("channel.freeze") == 2


async def test_an_english_write_is_confirmed_in_english(bot):
    asked = await bot.ask("heping", "freeze amazon")
    assert asked.title == "Please confirm" and "reply 1 to confirm, 0 to cancel" in asked.text
    keys = _keys(asked)
    assert (await bot.click("heping", keys["Cancel"])).text == "Cancelled; nothing was done."
    assert (await bot.click("heping", keys["Confirm"])).text == "This request was cancelled; nothing was done."
    assert not await bot.frozen("amazon")
