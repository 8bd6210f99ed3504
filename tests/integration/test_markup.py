"""Issue 13, item 3: shopper-controlled text in the bot's own cards comes out inert on every channel."""

from __future__ import annotations

import re

import aiohttp
import pytest

from orderbot.bot.handlers.orders import card_text
from orderbot.messaging.reply import Card, Reply, Table
from orderbot.core import outbox
from orderbot.core.orders.card import order_card
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.markup import (
    escape_card_text,
    escape_dingtalk_markdown,
    escape_html,
    escape_wecom_markdown,
    outside,
    plain,
)
from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
from orderbot.messaging.text import reply_markdown, reply_plain
from orderbot.messaging.worker import OutboxWorker

from tests.fakes import serving
from tests.fakes.dingtalk import FakeDingTalk
from tests.helpers import add_products, order_json, send_by_session

HOSTILE = [
    "[领取退款](http://evil.example/refund)",
    "# 系统通知",
    '<font color="warning">紧急</font>',
    "<@all>",
    "@all",
    "<script>alert(1)</script>",
    "![x](http://evil.example/p.png)",
    "[按钮](dtmd://dingtalkclient/sendMessage?content=%23btn%20undo_freeze%3Atiktok)",
    "**粗体** `code` > 引用",
]
ACTIVE = [
    re.compile(r"\[[^\]]*\]\("),
    re.compile(r"(^|\n)\s*#"),
    re.compile(r"<font", re.I),
    re.compile(r"<@"),
    re.compile(r"(?<![＠\w])@all"),
    re.compile(r"<script", re.I),
    re.compile(r"https?://"),
    re.compile(r"dtmd://"),
]


def _inert(text: str) -> bool:
    """No active markup from a value (the bot's own '### ' title line aside)."""
    text = text.split("\n", 1)[1] if text.startswith("### ") and "\n" in text else text
    return not any(p.search(text) for p in ACTIVE)


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("escape", [escape_wecom_markdown, escape_dingtalk_markdown])
def test_each_markdown_dialect_makes_a_value_inert(value, escape):
    out = escape(value)
    assert _inert(out) and "**" not in out and "`" not in out
    assert escape("杭州某某贸易 SO202602010001") == "杭州某某贸易 SO202602010001"  # ordinary text is unchanged


def test_html_card_text_and_plain():
    assert escape_html('<b a="1">') == "&lt;b a=&quot;1&quot;&gt;"
    assert escape_card_text("a\nb\x00c") == "a bc"
    assert plain(outside("x") + "y") == "xy"
    assert outside("a\u2064b") == "\u2063ab\u2064"  # a value cannot close its own span


def test_a_markdown_reply_keeps_its_own_markup_and_escapes_only_outside_values():
    reply = Reply(
        title="订单 SO1",
        text="**已付款** · 待打包\n" + outside("客户备注：[领取退款](http://evil.example)"),
        markdown=True,
    )
    text = reply_markdown(reply)
    assert "**已付款**" in text and "［领取退款］" in text and _inert(text.replace("**", ""))
    assert "[领取退款](http://evil.example)" in reply_plain(reply)  # a text message shows it as typed


def test_plain_replies_tables_and_cards_are_data_throughout():
    reply = Reply(
        title="<@all>",
        text="# 标题\n[x](http://a.b)",
        table=Table(("客户", "备注"), (("<@all>", "[y](http://c)"),)),
        card=Card("<font>t</font>", "@all", (("备注", "[z](http://d)"),)),
    )
    for escape in (escape_wecom_markdown, escape_dingtalk_markdown):
        assert _inert(reply_markdown(reply, escape))


async def _hostile_card(db, config, clock) -> Reply:
    data = order_json(
        "SO202602010007",
        notes="\n".join(HOSTILE),
        customer={"id": "C-EVIL", "name": "[领取退款](http://evil.example)", "province": "浙江", "email": "a@b.c"},
    )
    async with db.write() as s:
        await add_products(s, config, at=clock())
        await ingest_order(s, parse_order(data), source="test", config=config, now=clock())
    async with db.read() as s:
        card = await order_card(
            s, "SO202602010007", roles=frozenset({"customer_service"}), rules=config.visibility, in_group=False
        )
    return Reply(title=f"订单 {card['order_no']}", text=card_text(card), markdown=True)


async def test_a_hostile_order_card_is_delivered_inert_on_wecom(db, config, clock, wecom):
    fake, senders, _ = wecom
    reply = await _hostile_card(db, config, clock)
    async with db.write() as s:
        await outbox.enqueue(
            s, channel="wecom", destination="user:SunLi", kind="reply", payload=reply.to_dict(), now=clock()
        )
        await outbox.enqueue(
            s, channel="wecom_robot", destination="robot:K", kind="reply", payload=reply.to_dict(), now=clock()
        )
    assert await OutboxWorker(db, senders, clock, seed=1).run_once() == 2
    delivered = [m["markdown"]["content"] for m in fake.messages] + [
        m["markdown"]["content"] for m in fake.robot_messages["K"]
    ]
    assert len(delivered) == 2
    for content in delivered:
        assert "［领取退款］" in content and "**" in content  # the value is there, shown, and the bot's bold too
        assert _inert(content.replace("**", "")), content
        assert "\u2063" not in content and "\u2064" not in content


async def test_a_hostile_order_card_is_delivered_inert_on_dingtalk(db, config, clock):
    reply = await _hostile_card(db, config, clock)
    async with serving(FakeDingTalk(clock=lambda: clock().timestamp())) as fake:
        async with aiohttp.ClientSession() as http:
            sender = DingTalkSender(
                http,
                DingTalkApi(http, base=fake.base, app_key="dingkey", app_secret="dingsecret"),
                db,
                MediaLinks("https://bot.example.com", b"k" * 32),
                clock,
            )
            session = f"{fake.base}/robot/sendBySession?session=S"
            assert await send_by_session(db, clock, sender, reply.to_dict(), session) == 1
        (message,) = fake.session_messages["S"]
        content = message["markdown"]["text"]
        assert "［领取退款］" in content and _inert(content.replace("**", "")), content
