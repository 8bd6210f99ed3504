"""Cards never lose content: every reply of the real handlers, delivered through the WeCom app, a WeCom group
robot and the WeCom AI bot (to the local fakes), carries every line the sandbox shows for it (text, table, card
fields); the button card carries the buttons and a summary, not a cut-off text."""

from __future__ import annotations

import asyncio
import re

import pytest

from orderbot.messaging.reply import Button, Card, Reply, Table
from orderbot.messaging.aibot_streams import StreamStore
from orderbot.messaging.senders.wecom_aibot import AibotSender
from orderbot.messaging.text import reply_plain

from tests.integration.test_dispatch import bot, parser  # noqa: F401  (fixtures)
from tests.integration.test_reports import staffed_business  # noqa: F401  (the fixture)

QUESTIONS = [
    ("wanglei", "查看华东区2月6日延迟TOP3客户"),
    ("sunli", "2月4日到2月10日的延迟原因TOP5"),
    ("heping", "冻结TikTok渠道"),
    ("sunli", "告警列表"),
    ("sunli", "现在订单都卡在哪"),
    ("liuyang", "查单 SO202602010003"),
    ("wanglei", "帮助"),
    ("sunli", "昨天的日报"),
]
LONG = Reply(
    title="长回复",
    text="\n".join(f"第{i}行：" + "很长的说明文字" * 12 for i in range(60)),
    table=Table(("客户", "单数"), tuple((f"客户{i}", str(i)) for i in range(80))),
    card=Card("长回复", buttons=(Button("知道了", "ack:1"),), task_id="long-1"),
)


def _norm(text: str) -> str:
    text = re.sub(r"^\(\d+/\d+\)$", "", text, flags=re.M)  # part numbering of split messages
    return re.sub(r"\s+|\*\*|### ", "", text)


def missing(reply: Reply, delivered: str) -> list[str]:
    got = _norm(delivered)
    return [line for line in reply_plain(reply).split("\n") if _norm(line) and _norm(line) not in got]


@pytest.fixture
async def replies(bot):  # noqa: F811
    out = [await bot.ask(who, text) for who, text in QUESTIONS]
    assert any(r.card and r.card.buttons and r.text for r in out)  # the case that used to lose its text
    return out + [LONG]


@pytest.mark.slow
async def test_wecom_app_and_group_robot_deliver_every_line(replies, wecom):
    fake, senders, _ = wecom
    for i, reply in enumerate(replies):
        fake.messages.clear()
        await senders["wecom"].send("user:SunLi", "reply", reply.to_dict(), {})
        texts = [m["markdown"]["content"] for m in fake.messages if m["msgtype"] == "markdown"]
        cards = [m["template_card"] for m in fake.messages if m["msgtype"] == "template_card"]
        assert missing(reply, "\n".join(texts + [c.get("sub_title_text", "") for c in cards])) == [], reply.title
        if reply.card and reply.card.buttons:
            (card,) = cards
            assert [b["key"] for b in card["button_list"]] == [b.key for b in reply.card.buttons]
            assert len(card.get("sub_title_text", "")) <= 61
        await senders["wecom_robot"].send(f"robot:K{i}", "reply", reply.to_dict(), {})
        robot = "\n".join(m.get("markdown", m.get("text", {})).get("content", "") for m in fake.robot_messages[f"K{i}"])
        assert missing(reply, robot) == [], reply.title


@pytest.mark.slow
async def test_wecom_ai_bot_stream_carries_every_line(replies):
    streams = StreamStore()
    sender = AibotSender(None, mode="callback", streams=streams)
    for i, reply in enumerate(replies):
        sid = f"s{i}"
        streams.open(sid)
        route = {"mode": "callback", "kind": "msg", "stream": sid, "user": "SunLi"}
        sending = asyncio.ensure_future(sender.send("user:SunLi", "reply", {**reply.to_dict(), "_route": route}, {}))
        while not (frame := streams.poll(sid))["stream"]["finish"]:  # WeCom polling the open stream
            await asyncio.sleep(0.01)
        if reply is LONG:  # over one stream frame: the rest goes once through the response_url, not tested here
            sending.cancel()
            continue
        assert await sending is None
        assert missing(reply, frame["stream"]["content"]) == [], reply.title
        if reply.card and reply.card.buttons:
            assert frame["msgtype"] == "stream_with_template_card"
            assert [b["key"] for b in frame["template_card"]["button_list"]] == [b.key for b in reply.card.buttons]
        assert len(frame["stream"].get("msg_item", [])) == len(reply.charts)
