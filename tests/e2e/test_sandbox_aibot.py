"""The sandbox's WeCom AI-bot group (销售群), through the running demo app: the page's routes, the demo's fake WeCom
(sandbox/aibot.py), the real AI-bot door over HTTP, the dispatcher on a seeded SQLite file, the real AI-bot
sender and the group robot's webhook sender. What the page sees is the JSON the bot answered WeCom with.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import uuid
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer, unused_port
from sqlalchemy import select, update

from orderbot.app import create_app
from orderbot.core.models import AibotChat, InboundEvent, Order
from orderbot.db.engine import Database
from orderbot.sandbox.secrets import with_fake_wecom
from orderbot.settings import load_settings
from orderbot.webhooks.common import RULES

from tests.e2e.test_sandbox_api import SECRET, Page, _config, demo_clock, seeded  # noqa: F401  (the fixture)

SALES = "group:sales"


@pytest.fixture
def parser(static_parser):
    return static_parser


@pytest.fixture
async def page(seeded, parser, tmp_path):  # noqa: F811
    """The demo app as `orderbot demo` builds it: the AI bot in callback mode on made-up credentials, WeCom's API
    (the 消息推送 webhook) at the demo's own fake."""
    path = tmp_path / "demo.db"
    shutil.copy(seeded, path)
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    clock = demo_clock(tmp_path / "demo.db.clock.json")
    port = unused_port()
    settings = with_fake_wecom(load_settings(env_file=None, ORDERBOT_LABEL_SECRET=SECRET), f"http://127.0.0.1:{port}")
    app = create_app(settings, config=_config(), db=db, clock=clock, parser=parser, demo=True, run_scheduler=True)
    async with TestClient(TestServer(app, port=port)) as client:
        yield Page(client, db, clock)
    await db.dispose()


async def _aibot(page: Page, match, *, conv: str = SALES, timeout: float = 20.0) -> dict:
    """The next log entry of the AI bot (or the group's webhook) in `conv` that `match`es."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        for item in (await page.get(f"/sandbox/feed?after={page.seen}"))["items"]:
            if item["dir"] == "out" and item["conv"] == conv and item["kind"] == "aibot" and match(item):
                page.seen = item["id"]
                return item
        await asyncio.sleep(0.1)
    raise AssertionError(f"no matching AI-bot message in {conv}")


def _finished(item: dict) -> bool:
    return item["via"] == "stream" and item["body"]["stream"]["finish"]


async def _inbox(page: Page, msg_id: str) -> list[tuple[str]]:
    async with page.db.read() as s:
        return (
            await s.execute(
                select(InboundEvent.state).where(
                    InboundEvent.source == "wecom_aibot", InboundEvent.key == f"msg:{msg_id}"
                )
            )
        ).all()


async def test_the_sales_group_is_a_wecom_group_served_by_the_ai_bot(page):
    state = await page.get("/sandbox/state")
    people = {p["id"]: p for p in state["people"]}
    assert state["groups"]["sales"] == "销售群" and state["aibot"] == {"name": "OrderBot", "groups": ["sales"]}
    assert people["wanglei"]["groups"] == ["sales"] and people["wanglei"]["wecom"] == "WangLei"
    assert "sales" in people["heping"]["groups"] and "sales" not in people["zhangsan"]["groups"]
    refused = await page.post(
        "/sandbox/message",
        {"user": "zhangsan", "conv": SALES, "text": "@OrderBot 帮助", "msg_id": uuid.uuid4().hex},
        status=400,
    )
    assert refused["error"] == "张三 不在这个群里"


async def test_an_at_question_is_answered_with_markdown_and_a_chart_as_the_ai_bot_sends_them(page):
    msg_id = uuid.uuid4().hex
    sent = await page.say("wanglei", "@OrderBot 查看华东区昨日延迟TOP3客户", conv=SALES, msg_id=msg_id)
    assert sent["accepted"] and sent["heard"]
    item = await _aibot(page, _finished)
    stream = item["body"]["stream"]
    assert item["body"]["msgtype"] == "stream" and item["msgid"] == msg_id
    assert (
        stream["content"].startswith("### ") and "华东区" in stream["content"] and "@OrderBot" not in stream["content"]
    )
    assert " · " in stream["content"]  # the table's rows, as the AI bot's markdown has them
    (picture,) = stream["msg_item"]
    assert picture["msgtype"] == "image" and "base64" not in picture["image"]  # the page loads it by URL
    png = await (await page.client.get(picture["image"]["url"])).read()
    assert png.startswith(b"\x89PNG") and hashlib.md5(png).hexdigest() == picture["image"]["md5"]
    # the same message again (the page retried): WeCom retries its callback, the bot answers once
    assert (await page.say("wanglei", "@OrderBot 查看华东区昨日延迟TOP3客户", conv=SALES, msg_id=msg_id))["duplicate"]
    assert await _inbox(page, msg_id) == [("done",)]
    feed = (await page.get("/sandbox/feed?after=0"))["items"]
    assert [i["text"] for i in feed if i["dir"] == "in"] == ["@OrderBot 查看华东区昨日延迟TOP3客户"]
    assert len([i for i in feed if i["dir"] == "out" and i["via"] == "stream" and i["body"]["stream"]["finish"]]) == 1
    async with page.db.read() as s:  # the asker was known by their WeCom userid
        chat = await s.get(AibotChat, "wrS7aGNQAApqNLsMLS_7RurTthP1vi5A")
    assert chat.chat_type == "group" and chat.last_user == "WangLei"


async def test_a_message_without_the_mention_is_only_group_chat(page):
    msg_id = uuid.uuid4().hex
    sent = await page.say("wanglei", "查看华东区昨日延迟TOP3客户", conv=SALES, msg_id=msg_id)
    assert sent["accepted"] and sent["heard"] is False
    await page.say("zhoumin", "@OrderBot 帮助", conv=SALES)  # the next message that does reach the bot
    answer = await _aibot(page, _finished)
    assert "帮助" in answer["body"]["stream"]["content"]
    feed = (await page.get("/sandbox/feed?after=0"))["items"]
    # nothing for the first one (the answer may be a stream's first frame and its finished frame: one msgid)
    assert {i["msgid"] for i in feed if i["dir"] == "out"} == {answer["msgid"]}
    assert await _inbox(page, msg_id) == []


async def test_quoting_a_message_with_an_order_number_answers_这单到哪了(page):
    people = {p["id"]: p for p in (await page.get("/sandbox/state"))["people"]}
    order = next(e for e in people["wanglei"]["examples"] if e.startswith("查单 ")).split()[1]
    await page.say("gaofeng", f"客户催 {order} 了，谁看一下", conv=SALES)
    await page.post(
        "/sandbox/message",
        {
            "user": "wanglei",
            "conv": SALES,
            "text": "@OrderBot 这单到哪了",
            "quote": f"客户催 {order} 了，谁看一下",
            "msg_id": uuid.uuid4().hex,
        },
    )
    answer = await _aibot(page, _finished)
    assert f"订单 {order}" in answer["body"]["stream"]["content"]
    feed = (await page.get("/sandbox/feed?after=0"))["items"]
    (asked,) = [i for i in feed if i["dir"] == "in" and i["sender"] == "wanglei"]
    assert asked["quote"] == f"客户催 {order} 了，谁看一下"  # the page draws the quote above the question


async def test_a_card_button_is_refused_for_others_and_done_by_its_owner_then_the_card_shows_it(page):
    await page.say("heping", "@OrderBot 冻结TikTok渠道", conv=SALES)
    asked = await _aibot(page, _finished)
    assert asked["body"]["msgtype"] == "stream_with_template_card"
    assert "将冻结 TikTok Shop 渠道" in asked["body"]["stream"]["content"]
    card = asked["body"]["template_card"]
    confirm = card["button_list"][0]
    assert confirm["text"] == "确认" and confirm["key"].startswith("confirm:")
    # the sentence is in the stream and once on the card (its description), not again as the card's subtitle
    assert card["main_title"]["desc"].startswith("将冻结 TikTok Shop 渠道") and "sub_title_text" not in card

    async def click(user: str, button: dict, task_id: str) -> dict:
        await page.click(user, SALES, button, task_id)
        return (await _aibot(page, lambda i: i["via"] == "card_update"))["body"]

    refused = await click("wanglei", confirm, card["task_id"])
    assert refused["response_type"] == "update_template_card" and refused["userids"] == ["WangLei"]
    assert refused["template_card"]["button_list"][0]["key"] == confirm["key"]  # still there for the asker
    assert (await page.get("/sandbox/cockpit"))["frozen"] == []
    done = await click("heping", confirm, card["task_id"])
    assert "userids" not in done and done["template_card"]["task_id"] == card["task_id"]
    assert done["template_card"]["sub_title_text"].startswith("已冻结 TikTok Shop 渠道")
    assert done["template_card"]["main_title"]["title"].startswith("已冻结")  # no longer 「请确认：…」
    assert (await page.get("/sandbox/cockpit"))["frozen"] == ["TikTok Shop"]
    (undo,) = done["template_card"]["button_list"]
    refused = await click("wanglei", undo, card["task_id"])
    assert refused["userids"] == ["WangLei"] and "渠道运营" in refused["template_card"]["sub_title_text"]
    undone = await click("heping", undo, card["task_id"])
    assert undone["template_card"]["sub_title_text"].startswith("已解冻 TikTok Shop 渠道")
    assert [b["text"] for b in undone["template_card"]["button_list"]] == ["已处理"]
    feed = (await page.get("/sandbox/feed?after=0"))["items"]
    assert [(i["sender"], i["button"]) for i in feed if i["dir"] == "in" and i["kind"] == "click"] == [
        ("wanglei", "确认"),
        ("heping", "确认"),
        ("wanglei", "撤销冻结"),
        ("heping", "撤销冻结"),
    ]


async def test_an_alert_for_the_group_arrives_through_its_webhook_and_the_card_goes_to_the_owners(page):
    """Callback mode cannot push into a group: the alert goes as markdown through the group's 消息推送 webhook, and
    the card with its buttons to the owners 1:1 (in the demo, their chat with the bot), as in production."""
    async with page.db.write() as s:
        order_no = (
            await s.execute(select(Order.order_no).where(Order.status == "shipped").order_by(Order.id).limit(1))
        ).scalar_one()
        promised = page.clock().date() + timedelta(days=2)
        await s.execute(
            update(Order)
            .where(Order.order_no == order_no)
            .values(promised_date=promised, promised_override=None, expected_delivery=promised + timedelta(days=4))
        )
    await page.client.app[RULES].evaluate(only={"eta_risk"})
    pushed = await _aibot(page, lambda i: i["via"] == "webhook" and order_no in str(i["body"]))
    assert pushed["body"]["msgtype"] == "markdown" and "交付风险" in pushed["body"]["markdown"]["content"]
    owner = await page.bot_says("user:wanglei", lambda i: i["reply"]["card"] is not None, after=0)
    assert order_no in str(owner["reply"]) and owner["reply"]["card"]["buttons"]


def test_demo_settings_point_wecom_at_the_demo_itself(tmp_path):
    settings = with_fake_wecom(load_settings(env_file=None), "http://127.0.0.1:8123")
    assert settings.wecom_api_base == "http://127.0.0.1:8123/sandbox/wecom"
    assert (
        settings.wecom_aibot_mode == "callback" and len(settings.wecom_aibot_encoding_aes_key.get_secret_value()) == 43
    )
    assert base64.b64decode(settings.wecom_aibot_encoding_aes_key.get_secret_value() + "=")
