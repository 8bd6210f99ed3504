"""The AI bot never loses an answer's content, over the real transports against the fake platforms, on SQLite and
PostgreSQL: a callback-mode answer longer than the stream and the one-time response_url carry goes on through the
group's 消息推送 webhook, else 1:1 through the WeCom app, else the last message says what is missing and the row is
not stored as sent; a button's answer with a table, a chart and buttons of its own changes the card for everyone
(a summary, the answer's buttons) and reaches the chat whole, in callback mode and over the long connection."""

from __future__ import annotations

import asyncio
import base64
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from orderbot.app import create_app
from orderbot.core.models import OutboxMessage
from orderbot.core.orders.service import set_channel_frozen
from orderbot.messaging.inbound import CardAction
from orderbot.messaging.reply import Button, Card, Chart, Reply, Table
from orderbot.settings import load_settings
from orderbot.messaging.text import reply_plain
from orderbot.webhooks.aibot_crypto import AibotCrypto

from tests.e2e.test_wecom_aibot import (  # noqa: F401  (fixtures)
    AES_KEY,
    GROUP,
    TOKEN,
    _until,
    group_card_click,
    group_message,
    running_clock,
    staffed,
    urls,
    ws_bot_app,
)
from tests.e2e.test_wecom_aibot_files import _with_group
from tests.e2e.test_wecom_aibot_files import wecom_api as wecom_api  # the fixture
from tests.e2e.test_wecom_callback import Recorder
from tests.fakes.wecom_aibot import STREAM_LIMIT, CallbackDriver, FakeAibotWs
from tests.integration.test_reply_content import missing
from tests.integration.test_dispatch import parser  # noqa: F401  (the fixture)
from tests.integration.test_reports import NOW, staffed_business  # noqa: F401  (the fixture)
from tests.integration.test_stock_chat import _ingest

LINE = "第{}行：" + "很长的说明文字" * 40  # about 850 bytes a line
LONG = Reply(title="长回复", text="\n".join(LINE.format(i) for i in range(55)))  # about 47 KB: three parts
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
HELD = Reply(
    title="待审核订单（TikTok Shop）",
    text="共 20 单：",
    table=Table(
        ("订单号", "渠道", "客户"), tuple((f"SO2026020100{i:02d}", "TikTok Shop", f"客户{i}") for i in range(20))
    ),
    charts=(Chart("待审核订单", PNG),),
    markdown=True,
    card=Card(
        "TikTok Shop待审核订单 20 单",
        buttons=(Button("放行", "release_one:SO202602010000", 1), Button("取消", "cancel_held:SO202602010000", 2)),
        task_id="held-x",
    ),
)


async def settled(db, kind: str = "reply") -> OutboxMessage:
    """The answer's row once the worker is done with it (sent or dead)."""
    deadline = time.monotonic() + 15
    while True:
        async with db.read() as s:
            row = (await s.execute(select(OutboxMessage).where(OutboxMessage.kind == kind))).scalars().first()
        if (row is not None and row.state in ("sent", "dead")) or time.monotonic() > deadline:
            assert row is not None
            return row
        await asyncio.sleep(0.05)


def _callback_app(db, config, fake, way: str, reply):
    env = dict(WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY, WECOM_API_BASE=fake.base)
    if way == "app":
        env.update(WECOM_CORP_ID="wwcorp", WECOM_SECRET="app-secret", WECOM_AGENT_ID="1000002")
    config = _with_group(config, webhook_key="HOOK" if way == "webhook" else None)
    return create_app(load_settings(env_file=None, **env), config=config, db=db, handler=Recorder(reply=reply))


def _elsewhere(fake, way: str) -> list[dict]:
    return fake.robot_messages.get("HOOK", []) if way == "webhook" else fake.messages


def _texts(messages: list[dict]) -> str:
    return "\n".join(m[m["msgtype"]].get("content", "") for m in messages if m["msgtype"] in ("markdown", "text"))


@pytest.mark.parametrize("way", ["webhook", "app", "none"])
async def test_callback_long_answer_arrives_whole_or_says_what_is_missing(
    way,
    db,
    config,
    urls,  # noqa: F811
    wecom_api,  # noqa: F811
):
    app = _callback_app(db, config, wecom_api, way, lambda e: LONG)
    async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as http:
        driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)
        final = await driver.ask(driver.message("L-1", "text", {"content": "@OrderBot 长"}, user="SunLi", chat=GROUP))
        row = await settled(db)
    stream = final["stream"]["content"]
    assert stream.startswith("(1/3)") and len(stream.encode()) <= STREAM_LIMIT
    ((_, by_url),) = urls.received  # once, within the limit (the fake refuses more)
    assert urls.refused == [] and len(by_url["markdown"]["content"].encode()) <= STREAM_LIMIT
    assert by_url["markdown"]["content"].startswith("(2/3)")
    delivered = "\n".join([stream, by_url["markdown"]["content"], _texts(_elsewhere(wecom_api, way))])
    if way == "none":
        assert "后面还有 1 段文字无法经智能机器人发送" in by_url["markdown"]["content"]
        assert row.state == "dead" and "无处可发" in row.last_error  # never stored as sent
        lost = missing(LONG, delivered)  # the third part: named as missing, never pretended sent
        assert lost and lost == reply_plain(LONG).split("\n")[-len(lost) :]
        return
    assert missing(LONG, delivered) == [] and row.state == "sent"
    if way == "app":
        assert {m["touser"] for m in wecom_api.messages} == {"SunLi"} and wecom_api.robot_messages == {}
    else:
        assert wecom_api.messages == []


async def test_callback_click_answer_with_table_chart_and_buttons_reaches_the_chat(
    db,
    config,
    urls,  # noqa: F811
    wecom_api,  # noqa: F811
):
    app = _callback_app(db, config, wecom_api, "webhook", lambda e: HELD if isinstance(e, CardAction) else None)
    async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as http:
        driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)
        event = {"card_type": "button_interaction", "event_key": "held_list:tiktok", "task_id": "unfreeze-x"}
        status, update = await driver.post(
            driver.event("C-1", "template_card_event", event, user="HePing", chat=GROUP), "template_card_event"
        )
        row = await settled(db)
    assert status == 200 and update["response_type"] == "update_template_card"
    assert "userids" not in update  # a read answer, not a refusal: the card changes for everybody
    card = update["template_card"]
    assert card["sub_title_text"] == "待审核订单（TikTok Shop）：共 20 单：…"  # who did what, in short
    assert [b["key"] for b in card["button_list"]] == [b.key for b in HELD.card.buttons]  # the answer's own buttons
    assert card["task_id"] == "unfreeze-x" and card["main_title"]["title"] == HELD.card.title
    ((_, by_url),) = urls.received
    robot = wecom_api.robot_messages["HOOK"]
    assert missing(HELD, by_url["markdown"]["content"]) == []  # the whole table, once through the response_url
    assert [m["msgtype"] for m in robot] == ["image"]  # the chart through the group's webhook
    assert base64.b64decode(robot[0]["image"]["base64"]) == PNG
    assert row.state == "sent" and driver.errors == []


@pytest.fixture
async def ws_recorded(db, config):
    fake = FakeAibotWs()
    handler = Recorder(reply=lambda e: HELD if isinstance(e, CardAction) else Reply(text="好的"))
    async with ws_bot_app(fake, config=config, db=db, handler=handler, clock=running_clock()) as client:
        yield client, fake


async def test_ws_click_answer_with_table_chart_and_buttons_reaches_the_chat(db, ws_recorded):
    client, fake = ws_recorded
    await fake.push_callback(group_message("w-1", "HePing", "@OrderBot 你好"))  # opens the group for pushes
    creq = await fake.push_callback(
        group_card_click("w-2", "HePing", "held_list:tiktok", "unfreeze-x"), "aibot_event_callback"
    )
    await _until(lambda: any(p.get("msgtype") == "image" for p in fake.pushes))
    row = await settled(db)
    (update,) = fake.answers(creq)
    assert update["cmd"] == "aibot_respond_update_msg" and "userids" not in update
    assert [b["key"] for b in update["template_card"]["button_list"]] == [b.key for b in HELD.card.buttons]
    texts = [p["markdown"]["content"] for p in fake.pushes if p["msgtype"] == "markdown"]
    assert all(p["chatid"] == GROUP and p["chat_type"] == 2 for p in fake.pushes)
    assert missing(HELD, "\n".join(texts)) == []
    (image,) = [p for p in fake.pushes if p["msgtype"] == "image"]
    assert fake.media[image["image"]["media_id"]][1] == PNG
    assert row.state == "sent" and fake.errors == []


async def test_callback_unfreeze_then_look_one_by_one_shows_the_held_orders_and_their_buttons(
    staffed,  # noqa: F811
    config,
    parser,  # noqa: F811
    urls,  # noqa: F811
    wecom_api,  # noqa: F811
):
    """The real case: after an unfreeze with held orders, 逐单查看 answers with the table and 放行/取消 buttons."""
    held = [f"SO20260209{i:04d}" for i in range(1, 9)]
    async with staffed.write() as s:
        await set_channel_frozen(s, "temu", True, actor="heping", reason="取消率过高", now=NOW)
    for no in held:
        await _ingest(staffed, config, lambda: NOW, no, 9, channel="temu")
    env = dict(WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY, WECOM_API_BASE=wecom_api.base)
    config = _with_group(config, webhook_key="HOOK")
    app = create_app(load_settings(env_file=None, **env), config=config, db=staffed, clock=lambda: NOW, parser=parser)
    async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as http:
        driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)

        async def click(msgid: str, key: str, task_id: str) -> dict:
            event = {"card_type": "button_interaction", "event_key": key, "task_id": task_id}
            status, update = await driver.post(
                driver.event(msgid, "template_card_event", event, user="HePing", chat=GROUP), "template_card_event"
            )
            assert status == 200 and update["response_type"] == "update_template_card"
            return update

        asked = await driver.ask(
            driver.message("u-1", "text", {"content": "@OrderBot 解冻Temu"}, user="HePing", chat=GROUP)
        )
        task = asked["template_card"]["task_id"]
        unfrozen = await click("u-2", asked["template_card"]["button_list"][0]["key"], task)  # 确认
        keys = [b["key"] for b in unfrozen["template_card"]["button_list"]]
        assert keys == ["release_held:temu", "held_list:temu"]  # the unfreeze answer's own buttons, on the card
        listing = await click("u-3", "held_list:temu", task)
        deadline = time.monotonic() + 10
        while not urls.received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    card = listing["template_card"]
    assert "userids" not in listing and card["sub_title_text"].startswith("待审核订单（Temu）")
    assert {f"release_one:{held[0]}", f"cancel_held:{held[0]}"} <= {b["key"] for b in card["button_list"]}
    ((_, by_url),) = urls.received  # the held orders' table reached the chat, every order
    assert all(no in by_url["markdown"]["content"] for no in held)
    assert driver.errors == []
