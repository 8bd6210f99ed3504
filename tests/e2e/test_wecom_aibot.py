"""The WeCom AI bot over real HTTP and a real WebSocket, against the fake platform, with the real dispatcher on
SQLite and PostgreSQL: group @-questions with table and chart, 1:1 voice, card clicks by an owner and by someone
else, retried callbacks, hostile bodies, and the long connection dropped mid-answer."""

from __future__ import annotations

import asyncio
import contextlib
import base64
import hashlib
import time
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from orderbot.app import AIBOT_WS, create_app
from orderbot.core.models import AibotAnswer, AibotChat, AibotFeedback, InboundEvent, OutboxMessage
from orderbot.settings import load_settings
from orderbot.messaging.worker import PlatformAlerts
from orderbot.webhooks.aibot_crypto import AibotCrypto
from orderbot.webhooks.aibot_ws import AibotWsClient
from orderbot.webhooks.common import SENDERS
from orderbot.webhooks.wecom_aibot import AIBOT

from tests.fakes import serving
from tests.fakes.wecom_aibot import CallbackDriver, FakeAibotWs, PlatformError, ResponseUrls
from tests.integration.test_dispatch import parser  # noqa: F401  (the fixture)
from tests.integration.test_reports import NOW, staffed_business  # noqa: F401  (the fixture)

TOKEN, AES_KEY = "aibottoken", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
GROUP = "wrS7aGNQAApqNLsMLS_7RurTthP1vi5A"


@pytest.fixture
async def urls():
    async with serving(ResponseUrls()) as fake:
        yield fake


@pytest.fixture
async def staffed(staffed_business):  # noqa: F811
    return staffed_business


@pytest.fixture
async def wecom_bot(staffed, config, parser, urls):  # noqa: F811
    settings = load_settings(
        env_file=None, WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY, WECOM_AIBOT_ID="aibFAKE"
    )
    app = create_app(settings, config=config, db=staffed, clock=lambda: NOW, parser=parser)
    async with TestClient(TestServer(app)) as client:
        async with aiohttp.ClientSession() as http:
            driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)
            yield client, driver


def _png_md5_ok(item: dict) -> None:
    png = base64.b64decode(item["image"]["base64"])
    assert png.startswith(b"\x89PNG") and hashlib.md5(png).hexdigest() == item["image"]["md5"]


async def test_group_question_answered_with_table_and_chart(wecom_bot):
    client, driver = wecom_bot
    body = driver.message(
        "m-top3", "text", {"content": "@OrderBot 查看华东区2月6日延迟TOP3客户"}, user="WangLei", chat=GROUP
    )
    final = await driver.ask(body)
    stream = final["stream"]
    assert stream["finish"] and "华东区2月6日延迟TOP3客户" in stream["content"]
    assert "**客户C1** · 3 · 3 · 港口罢工" in stream["content"]
    (image,) = stream["msg_item"]
    _png_md5_ok(image)
    assert driver.errors == []
    async with client.app[AIBOT].pipeline.db.read() as s:
        chat = await s.get(AibotChat, GROUP)
    assert chat.chat_type == "group" and chat.last_user == "WangLei"


async def test_voice_in_1to1_is_the_command_and_a_quote_gives_context(wecom_bot):
    client, driver = wecom_bot
    voice = driver.message("m-voice", "voice", {"content": "SO202602010003到哪了"}, user="LiuYang")
    final = await driver.ask(voice)
    assert "订单 SO202602010003" in final["stream"]["content"]
    quoted = driver.message(
        "m-quote",
        "text",
        {"content": "@OrderBot 这单到哪了"},
        user="LiuYang",
        chat=GROUP,
        quote={"msgtype": "text", "text": {"content": "客户催 SO202602010003 了"}},
    )
    final = await driver.ask(quoted)
    assert "订单 SO202602010003" in final["stream"]["content"]
    image = driver.message("m-img", "image", {"url": "https://example.invalid/x"}, user="LiuYang")
    status, reply = await driver.post(image)
    assert status == 200 and reply["stream"]["finish"] and "看不懂图片" in reply["stream"]["content"]
    assert driver.errors == []


async def test_card_button_refused_for_others_and_done_by_its_owner(wecom_bot):
    client, driver = wecom_bot
    final = await driver.ask(
        driver.message("m-freeze", "text", {"content": "@OrderBot 冻结TikTok渠道"}, user="HePing", chat=GROUP)
    )
    # a typed write first says what will happen; only the asker's 确认 runs it
    assert final["msgtype"] == "stream_with_template_card" and "将冻结 TikTok Shop 渠道" in final["stream"]["content"]
    card = final["template_card"]
    confirm = card["button_list"][0]
    assert confirm["key"].startswith("confirm:")

    def click(n, key, user, task_id):
        event = {"card_type": "button_interaction", "event_key": key, "task_id": task_id}
        return driver.post(
            driver.event(f"c-{n}", "template_card_event", event, user=user, chat=GROUP), "template_card_event"
        )

    status, refused = await click(1, confirm["key"], "WangLei", card["task_id"])
    assert status == 200 and refused["response_type"] == "update_template_card" and refused["userids"] == ["WangLei"]
    assert refused["template_card"]["button_list"][0]["key"] == confirm["key"]  # still there for the asker
    status, done = await click(2, confirm["key"], "HePing", card["task_id"])
    assert status == 200 and "userids" not in done
    assert done["template_card"]["sub_title_text"].startswith("已冻结 TikTok Shop 渠道")
    (undo,) = done["template_card"]["button_list"]
    assert undo["key"] == "unfreeze:tiktok"
    # the undo button on the result: refused for a salesperson (with who may), done by the channel operator
    status, refused = await click(3, undo["key"], "WangLei", done["template_card"]["task_id"])
    assert refused["userids"] == ["WangLei"] and "渠道运营" in refused["template_card"]["sub_title_text"]
    status, undone = await click(4, undo["key"], "HePing", done["template_card"]["task_id"])
    assert "userids" not in undone and undone["template_card"]["sub_title_text"].startswith("已解冻 TikTok Shop 渠道")
    assert [b["text"] for b in undone["template_card"]["button_list"]] == ["已处理"]
    assert driver.errors == []


async def test_retried_callback_answered_once_and_feedback_stored(wecom_bot):
    client, driver = wecom_bot
    body = driver.message("m-retry", "text", {"content": "@OrderBot 查单 SO202602010001"}, user="LiuYang")
    first = await driver.ask(body)
    for _ in range(3):
        status, again = await driver.post(body)
        assert status == 200 and again["stream"]["id"] == first["stream"]["id"]
    db = client.app[AIBOT].pipeline.db
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(InboundEvent))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 1
    # the answer carried a feedback id, so WeCom lets the person rate it; the rating is stored with its answer
    fid = first["stream"]["feedback"]["id"]
    with pytest.raises(PlatformError):  # WeCom offers no rating for an answer that carried no id
        driver.feedback("f-0", "f-never-sent", 1)
    rating = driver.feedback("f-1", fid, 2, "数字不对", [3])
    for _ in range(2):
        status, reply = await driver.post(rating, "feedback_event")
        assert status == 200 and reply is None
    await client.app[AIBOT].pipeline.drain()
    async with db.read() as s:
        (row,) = (await s.execute(select(AibotFeedback))).scalars().all()
        answer = await s.get(AibotAnswer, row.feedback_id)
    assert (row.rating, row.comment, row.reasons, row.user_id) == (2, "数字不对", [3], "LiuYang")
    assert (answer.question, answer.intent, answer.user_id) == ("查单 SO202602010001", "order.lookup", "LiuYang")
    assert "SO202602010001" in answer.answer


async def test_hostile_requests_refused_quickly(wecom_bot):
    client, driver = wecom_bot
    crypto = AibotCrypto(TOKEN, AES_KEY)
    query, data = crypto.seal_request({"msgid": "x"}, nonce="n1", timestamp="1700000000")
    started = time.perf_counter()
    bad_sig = await client.post("/wecom/aibot", params={**query, "msg_signature": "0" * 40}, data=data)
    garbage = await client.post("/wecom/aibot", params=query, data=b"\x00not json")
    huge = await client.post("/wecom/aibot", params=query, data=b"{" + b" " * 200_000 + b"}")
    no_query = await client.post("/wecom/aibot", data=data)
    other_key = AibotCrypto(TOKEN, "a" * 43)
    q2, d2 = other_key.seal_request({"msgid": "x"}, nonce="n2", timestamp="1700000000")
    wrong_key = await client.post("/wecom/aibot", params=q2, data=d2)
    assert time.perf_counter() - started < 2
    assert (bad_sig.status, garbage.status, huge.status, no_query.status, wrong_key.status) == (401, 400, 413, 400, 400)
    async with client.app[AIBOT].pipeline.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(InboundEvent))).scalar_one() == 0
    echo = crypto.seal_request("1234567890", nonce="n3", timestamp="1700000001")
    resp = await client.get("/wecom/aibot", params={**echo[0], "echostr": crypto.encrypt("1234567890")})
    assert resp.status == 401  # signed over a different ciphertext
    enc = crypto.encrypt("echo-me")
    from orderbot.webhooks.aibot_crypto import signature

    resp = await client.get(
        "/wecom/aibot",
        params={"msg_signature": signature(TOKEN, "1", "n", enc), "timestamp": "1", "nonce": "n", "echostr": enc},
    )
    assert resp.status == 200 and await resp.text() == "echo-me"
    assert await driver.verify("1700000000123456789") == (200, "1700000000123456789")  # within WeCom's 1 s
    assert driver.errors == []


# --- long connection -----------------------------------------------------------------------------------------
def running_clock():
    """NOW, running on from the moment it is made (so the outbox's retry after a drop comes due)."""
    t0 = time.monotonic()
    return lambda: NOW + timedelta(seconds=time.monotonic() - t0)


def ws_url(fake: FakeAibotWs) -> str:
    """The WebSocket address of a fake served by `serving`."""
    return fake.base.replace("http://", "ws://") + "/"


@contextlib.asynccontextmanager
async def ws_bot_app(fake: FakeAibotWs, **app_kwargs):
    """The app over its long connection to `fake` (served for the block), once WeCom acknowledged the
    subscription; the keyword arguments go to `create_app`."""
    async with serving(fake):
        settings = load_settings(
            env_file=None,
            WECOM_AIBOT_MODE="ws",
            WECOM_AIBOT_ID="aibFAKE",
            WECOM_AIBOT_SECRET="ws-secret",
            WECOM_AIBOT_WS_URL=ws_url(fake),
        )
        app = create_app(settings, **app_kwargs)
        # a dropped link comes back and its frames go again within a few tenths of a second, not the product's
        # 1 s and 2 s (the back-off and the retry are tested on their own, with a client of their own)
        app[AIBOT_WS].backoff, app[AIBOT_WS].retry_down = (0.1, 1.0), 0.3
        async with TestClient(TestServer(app)) as client:
            await asyncio.wait_for(client.app[AIBOT_WS].connected.wait(), 10)
            yield client


@pytest.fixture
async def ws_bot(staffed, config, parser):  # noqa: F811
    fake = FakeAibotWs()
    async with ws_bot_app(fake, config=config, db=staffed, clock=running_clock(), parser=parser) as client:
        yield client, fake


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _in_group(msgid: str, user: str, **body) -> dict:
    return {
        "msgid": msgid,
        "aibotid": "aibFAKE",
        "chatid": GROUP,
        "chattype": "group",
        "from": {"userid": user},
        **body,
    }


def group_message(msgid: str, user: str, text: str) -> dict:
    """A text message in the group, as the long connection pushes it."""
    return _in_group(msgid, user, msgtype="text", text={"content": text})


def group_card_click(msgid: str, user: str, key: str, task_id: str) -> dict:
    """A click on a button of a card in the group."""
    click = {"card_type": "button_interaction", "event_key": key, "task_id": task_id}
    return _in_group(
        msgid, user, msgtype="event", event={"eventtype": "template_card_event", "template_card_event": click}
    )


@pytest.mark.slow
async def test_ws_group_question_and_drop_mid_answer_neither_lost_nor_doubled(ws_bot):
    client, fake = ws_bot
    fake.drop_on_next_answer = True
    body = group_message("w-1", "LiuYang", "@OrderBot 查单 SO202602010003")
    req = await fake.push_callback(body)
    await _until(
        lambda: (
            fake.subscribed >= 2
            and any(a.get("stream", {}).get("finish") for a in fake.answers(req))
            and len([f for f in fake.frames if f["req_id"] == req]) >= 2
        )
    )
    (answer,) = fake.answers(req)  # sent twice (before and after the drop), seen once
    assert "订单 SO202602010003" in answer["stream"]["content"]
    await fake.push_callback(body)  # WeCom pushes it again after the reconnect: the inbox knows it
    await asyncio.sleep(0.5)
    assert len(fake.answers(req)) == 1 and not [r for r in fake.frames if r["req_id"] != req]
    async with client.app[AIBOT_WS].pipeline.db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.state == "sent" and row.attempts >= 2
    assert fake.errors == []


async def test_ws_drop_at_the_card_frame_resumes_after_the_acknowledged_stream(ws_bot):
    client, fake = ws_bot
    fake.lose_answer_of_type = "template_card"  # the stream frame is acknowledged, then the link drops
    req = await fake.push_callback(group_message("w-9", "HePing", "@OrderBot 冻结TikTok渠道"))
    await _until(lambda: fake.subscribed >= 2 and any(f.get("msgtype") == "template_card" for f in fake.frames))
    for _ in range(100):  # the card arrived; the row is stored as sent once WeCom's ack is read back
        async with client.app[AIBOT_WS].pipeline.db.read() as s:
            row = (await s.execute(select(OutboxMessage))).scalar_one()
        if row.state != "pending":
            break
        await asyncio.sleep(0.05)
    assert row.state == "sent" and row.attempts >= 1
    # the outbox resent only what WeCom had not acknowledged: one finished stream frame, one card, nothing twice
    # (a "正在查询…" frame comes first when the answer takes longer than the one-go window)
    frames = [f for f in fake.frames if f["req_id"] == req]
    finished = [f for f in frames if f.get("msgtype") == "stream" and f["stream"].get("finish")]
    assert len(finished) == 1 and [f.get("msgtype") for f in frames][-1] == "template_card"
    assert [f.get("msgtype") for f in frames].count("template_card") == 1
    assert fake.errors == []


async def test_ws_card_click_updates_the_card_and_alerts_push_only_where_allowed(ws_bot):
    client, fake = ws_bot
    ask = group_message("w-2", "HePing", "@OrderBot 冻结TikTok渠道")
    req = await fake.push_callback(ask)
    await _until(lambda: any(f.get("msgtype") == "template_card" for f in fake.answers(req)))
    card = next(f for f in fake.answers(req) if f.get("msgtype") == "template_card")["template_card"]

    async def click(msgid, key):
        event = group_card_click(msgid, "HePing", key, card["task_id"])
        creq = await fake.push_callback(event, "aibot_event_callback")
        await _until(lambda: fake.answers(creq))
        (update,) = fake.answers(creq)
        assert update["cmd"] == "aibot_respond_update_msg" and update["template_card"]["task_id"] == card["task_id"]
        return update["template_card"]

    confirm = card["button_list"][0]["key"]
    assert confirm.startswith("confirm:")  # a typed write waits for its asker's 确认
    assert (await click("w-3", confirm))["sub_title_text"].startswith("已冻结")
    assert (await click("w-4", "unfreeze:tiktok"))["sub_title_text"].startswith("已解冻")
    sender = client.app[SENDERS]["wecom_aibot"]
    await sender.send(f"chat:{GROUP}", "reply", {"text": "告警：测试", "title": "告警"}, {})
    assert fake.pushes[-1]["chatid"] == GROUP and "告警：测试" in fake.pushes[-1]["markdown"]["content"]
    from orderbot.messaging.senders.base import SendError

    with pytest.raises(SendError, match="webhook_key"):
        await sender.send("chat:never-talked", "reply", {"text": "告警"}, {})
    assert ("aibot_send_msg", 93006) in fake.errors


async def test_ws_rating_of_an_answer_is_stored_with_its_question(ws_bot):
    client, fake = ws_bot
    req = await fake.push_callback(group_message("w-r", "WangLei", "@OrderBot 查看华东区2月6日延迟TOP3客户"))
    await _until(lambda: any(a.get("stream", {}).get("finish") for a in fake.answers(req)))
    (fid,) = fake.rated  # the answer's first frame carried its feedback id
    with pytest.raises(PlatformError):
        await fake.push_feedback("f-never-sent", 1)
    await fake.push_feedback(fid, 1)
    db = client.app[AIBOT_WS].pipeline.db

    async def stored():
        async with db.read() as s:
            return (
                await s.execute(
                    select(AibotFeedback, AibotAnswer).join(
                        AibotAnswer, AibotAnswer.feedback_id == AibotFeedback.feedback_id
                    )
                )
            ).all()

    deadline = time.monotonic() + 5
    while not (rows := await stored()):
        assert time.monotonic() < deadline, "the rating was not stored"
        await asyncio.sleep(0.05)
    [(rating, answer)] = rows
    assert (rating.rating, rating.user_id, rating.chat_id) == (1, "WangLei", GROUP)
    assert answer.question == "查看华东区2月6日延迟TOP3客户" and answer.intent == "report.top_delayed_customers"
    assert fake.errors == []


async def test_enter_chat_gets_a_welcome_for_this_persons_roles(wecom_bot):
    client, driver = wecom_bot
    status, reply = await driver.post(driver.event("e-1", "enter_chat", user="LiuYang"), "enter_chat")
    assert status == 200 and reply["msgtype"] == "text" and reply["text"]["content"].startswith("刘洋，你好")
    status, reply = await driver.post(driver.event("e-2", "enter_chat", user="stranger"), "enter_chat")
    assert status == 200 and reply is None
    assert driver.errors == []


# --- slow answers: streamed, or through the one-time response_url --------------------------------------------
@pytest.fixture
async def slow_bot(db, config, urls):
    from tests.e2e.test_wecom_callback import Recorder
    from orderbot.messaging.reply import Reply

    recorder = Recorder(reply=lambda e: Reply(title="慢报表", text=f"好的：{e.text}"), delay=1.2)
    settings = load_settings(env_file=None, WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY)
    app = create_app(settings, config=config, db=db, handler=recorder)
    async with TestClient(TestServer(app)) as client:
        async with aiohttp.ClientSession() as http:
            driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)
            yield client, driver, app[SENDERS]["wecom_aibot"].streams


@pytest.mark.slow
async def test_a_slow_answer_is_streamed_then_finished(slow_bot):
    client, driver, _ = slow_bot
    final = await driver.ask(
        driver.message("s-1", "text", {"content": "@OrderBot 本月报表"}, user="WangLei", chat=GROUP)
    )
    assert final["stream"]["content"] == "### 慢报表\n\n好的：本月报表"
    assert len(driver.timings) >= 3 and max(driver.timings) < 1  # the first frame came before the answer
    assert driver.errors == [] and driver.urls.received == []


@pytest.mark.slow
async def test_an_answer_later_than_the_stream_goes_once_through_response_url(slow_bot, db):
    client, driver, streams = slow_bot
    streams.window = 0.5  # WeCom has stopped polling by the time the answer is ready
    body = driver.message("s-2", "text", {"content": "@OrderBot 本月报表"}, user="WangLei", chat=GROUP)
    status, first = await driver.post(body)
    assert status == 200 and not first["stream"]["finish"]
    await _until(lambda: driver.urls.received)
    [(_, delivered)] = driver.urls.received
    assert delivered == {"msgtype": "markdown", "markdown": {"content": "### 慢报表\n\n好的：本月报表"}}

    async def sent() -> bool:
        async with db.read() as s:
            return (await s.execute(select(OutboxMessage.state))).scalar_one() == "sent"

    deadline = time.monotonic() + 5
    while not await sent():  # marked sent once the platform has taken it
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http:  # the platform refuses a second use
        async with http.post(body["response_url"], json=delivered) as resp:
            assert (await resp.json())["errcode"] != 0


async def test_a_stranger_is_told_which_id_to_add(wecom_bot):
    client, driver = wecom_bot
    final = await driver.ask(
        driver.message(
            "u-1",
            "text",
            {"content": "@OrderBot 查单 SO202602010001"},
            user="woAJ2GCAAAXtWyujaWJHDDGi0mACH71w",
            chat=GROUP,
        )
    )
    assert "woAJ2GCAAAXtWyujaWJHDDGi0mACH71w，填在 wecom_open_userid" in final["stream"]["content"]


# --- two connections of one bot --------------------------------------------------------------------------------
@pytest.fixture
async def fake_ws():
    async with serving(FakeAibotWs()) as fake, aiohttp.ClientSession() as http:
        yield fake, ws_url(fake), http


def _client(url, http, alerts=None, **timing) -> AibotWsClient:
    return AibotWsClient(
        url=url, bot_id="aibFAKE", secret="ws-secret", pipeline=None, http=http, clock=None, alerts=alerts, **timing
    )


@pytest.mark.slow
async def test_a_link_taken_over_by_another_process_stands_back_longer_each_time(fake_ws):
    fake, url, http = fake_ws
    alerts = [PlatformAlerts(), PlatformAlerts()]
    timing = {"backoff": (0.05, 0.4), "takeover_backoff": (0.5, 4.0), "healthy_after": 0.2}
    clients = [_client(url, http, alerts[i], **timing) for i in range(2)]
    clients[0].start()
    await _until(lambda: clients[0].connected.is_set())
    clients[1].start()  # a second replica with the same bot: WeCom tells the first it was taken over
    await asyncio.sleep(3.2)
    for c in clients:
        await c.stop()
    # the old 1 s fight was a subscription a second each; standing back 0.5, 1, 2 s each allows ~5 in 3.2 s
    assert 3 <= fake.subscribed <= 6, fake.subscribed
    assert clients[0].takeovers >= 1 and clients[1].takeovers >= 1
    assert "另一个连接接管" in alerts[0].problems["wecom_aibot_ws"]


async def test_a_link_that_held_reconnects_at_once_one_that_keeps_failing_waits_longer(fake_ws):
    fake, url, http = fake_ws
    client = _client(url, http, backoff=(0.1, 5.0), healthy_after=0.3)
    client.start()
    try:
        await _until(lambda: client.connections == 1)
        for n in (2, 3, 4):  # dropped right after subscribing: 0.1, 0.2, 0.4 s
            started = time.monotonic()
            await fake.drop()
            await _until(lambda n=n: client.connections == n)
        assert time.monotonic() - started >= 0.35
        await asyncio.sleep(0.4)  # this one holds: the next reconnect starts over at 0.1 s
        started = time.monotonic()
        await fake.drop()
        await _until(lambda: client.connections == 5)
        assert time.monotonic() - started < 0.3
        assert client.takeovers == 0
    finally:
        await client.stop()


# --- the long connection's quota per conversation: 30 messages a minute, 1000 an hour --------------------------
@pytest.fixture
async def ws_bot_at(staffed, config, parser):  # noqa: F811
    """The long-connection bot with the app and the platform on one manual clock."""
    from orderbot.core.clock import ManualClock

    clock = ManualClock(NOW)
    fake = FakeAibotWs(clock=lambda: (clock() - NOW).total_seconds())
    async with ws_bot_app(fake, config=config, db=staffed, clock=clock, parser=parser) as client:
        yield client, fake, clock


async def test_more_than_30_pushes_into_one_chat_wait_for_the_quota_none_lost_none_doubled(ws_bot_at):
    from orderbot.core import outbox
    from orderbot.webhooks.common import WORKER

    client, fake, clock = ws_bot_at
    db = client.app[AIBOT_WS].pipeline.db
    fake.talked.add(GROUP)
    async with db.write() as s:
        for n in range(35):
            await outbox.enqueue(
                s,
                channel="wecom_aibot",
                destination=f"chat:{GROUP}",
                kind="reply",
                payload={"text": f"告警{n}号"},
                now=clock(),
            )
    client.app[WORKER].wake.set()
    await _until(lambda: len(fake.pushes) == 30)
    # a question asked in the full chat: its answer waits too, instead of being refused by WeCom
    req = await fake.push_callback(group_message("w-q", "LiuYang", "@OrderBot 查单 SO202602010003"))
    await asyncio.sleep(1.0)
    assert len(fake.pushes) == 30 and fake.answers(req) == [] and fake.errors == []
    async with db.read() as s:
        waiting = (await s.execute(select(OutboxMessage).where(OutboxMessage.state == "pending"))).scalars().all()
    assert len(waiting) == 6 and all(r.next_attempt_at >= clock() + timedelta(seconds=59) for r in waiting)
    clock.advance(seconds=61)
    client.app[WORKER].wake.set()
    await _until(lambda: len(fake.pushes) == 35 and fake.answers(req))
    texts = [p["markdown"]["content"] for p in fake.pushes]
    assert sorted(texts) == sorted(f"告警{n}号" for n in range(35))  # each once
    assert "订单 SO202602010003" in fake.answers(req)[0]["stream"]["content"]
    assert fake.errors == []


async def test_the_hourly_quota_of_a_chat_holds_across_minutes(fake_ws):
    from orderbot.core.clock import ManualClock
    from orderbot.messaging.senders.base import SendError
    from orderbot.messaging.senders.wecom_aibot import AibotSender

    fake, url, http = fake_ws
    clock = ManualClock(NOW)
    fake.clock = lambda: (clock() - NOW).total_seconds()
    fake.talked.update({GROUP, "other"})
    link = _client(url, http)
    sender = AibotSender(http, mode="ws", ws=link, clock=clock)
    link.start()
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        for n in range(1000):  # 30 a minute, 34 minutes
            try:
                await sender.send(f"chat:{GROUP}", "reply", {"text": f"第{n}条"}, {})
            except SendError as exc:
                assert exc.retry_after and n % 30 == 0
                clock.advance(seconds=exc.retry_after)
                await sender.send(f"chat:{GROUP}", "reply", {"text": f"第{n}条"}, {})
        clock.advance(seconds=61)
        with pytest.raises(SendError, match="每小时最多 1000 条") as full:
            await sender.send(f"chat:{GROUP}", "reply", {"text": "第1001条"}, {})
        assert 3600 - 34 * 60 - 61 < full.value.retry_after <= 3600 - 33 * 60
        await sender.send("chat:other", "reply", {"text": "别的群"}, {})  # each conversation has its own quota
        assert len(fake.pushes) == 1001 and fake.errors == []
    finally:
        await link.stop()


async def test_a_clicks_answer_pushed_into_the_chat_counts_against_the_chats_quota(fake_ws):
    """The card update changes a message (not counted); the answer pushed after it makes messages, so a full
    chat holds them back like any push instead of WeCom refusing them."""
    from orderbot.core.clock import ManualClock
    from orderbot.messaging.reply import Reply, Table
    from orderbot.messaging.senders.base import SendError
    from orderbot.messaging.senders.wecom_aibot import AibotSender

    class Ignored:  # callbacks pushed here only open req_ids to answer
        async def accept(self, event):
            return None

    fake, url, http = fake_ws
    clock = ManualClock(NOW)
    fake.clock = lambda: (clock() - NOW).total_seconds()
    fake.talked.add(GROUP)
    link = AibotWsClient(url=url, bot_id="aibFAKE", secret="ws-secret", pipeline=Ignored(), http=http, clock=clock)
    sender = AibotSender(http, mode="ws", ws=link, clock=clock)
    link.start()
    try:
        await asyncio.wait_for(link.connected.wait(), 5)
        for n in range(30):  # the chat's minute is full
            await sender.send(f"chat:{GROUP}", "reply", {"text": f"第{n}条"}, {})
        req = await fake.push_callback(group_card_click("c-q", "HePing", "x", "t"), "aibot_event_callback")
        answer = Reply(title="冻结中的订单", text="共 2 单", table=Table(("单号",), (("SO1",), ("SO2",))))
        route = {"mode": "ws", "kind": "card", "task_id": "t", "user": "HePing", "req_id": req}
        progress: dict = {}
        with pytest.raises(SendError, match="每分钟最多 30 条") as full:
            await sender.send(f"chat:{GROUP}", "reply", {**answer.to_dict(), "_route": route}, progress)
        assert [a["cmd"] for a in fake.answers(req)] == ["aibot_respond_update_msg"] and progress["done"] == 1
        assert len(fake.pushes) == 30 and fake.errors == []
        clock.advance(seconds=full.value.retry_after)
        await sender.send(f"chat:{GROUP}", "reply", {**answer.to_dict(), "_route": route}, progress)
        assert "SO2" in fake.pushes[30]["markdown"]["content"] and len(fake.answers(req)) == 1
        assert fake.errors == []
    finally:
        await link.stop()


# --- long connection: a slow answer is shown at once, a late one is pushed without losing its charts' mention ---
@pytest.fixture
async def slow_ws_bot(db, config):
    from orderbot.messaging.reply import Reply

    from tests.e2e.test_wecom_callback import Recorder

    recorder = Recorder(reply=lambda e: Reply(title="慢报表", text=f"好的：{e.text}"), delay=0.5)
    fake = FakeAibotWs()
    async with ws_bot_app(fake, config=config, db=db, handler=recorder) as client:
        yield client, fake, recorder


async def test_ws_a_slow_answer_shows_its_stream_at_once_then_finishes_it(slow_ws_bot):
    client, fake, _ = slow_ws_bot
    req = await fake.push_callback(group_message("w-slow", "WangLei", "@OrderBot 本月报表"))
    await _until(lambda: any(a.get("stream", {}).get("finish") for a in fake.answers(req)))
    first, last = [f["stream"] for f in fake.frames if f["req_id"] == req]
    assert not first["finish"] and first["content"].startswith("⏳ 正在查询") and first["feedback"]["id"]
    assert last["id"] == first["id"] and last["finish"] and last["content"] == "### 慢报表\n\n好的：本月报表"
    assert fake.first_frame[req] - fake.pushed_at[req] < 0.3  # shown long before the answer was ready (0.5 s)
    assert len(fake.answers(req)) == 1 and fake.errors == []


async def test_ws_a_slow_question_with_nothing_to_answer_ends_the_stream_it_showed(slow_ws_bot):
    client, fake, recorder = slow_ws_bot
    recorder.reply = None  # e.g. a stranger's flood: silence
    req = await fake.push_callback(group_message("w-none", "WangLei", "@OrderBot 本月报表"))
    await _until(lambda: any(a.get("stream", {}).get("finish") for a in fake.answers(req)))
    [answer] = fake.answers(req)  # one stream: shown as 正在查询, then ended
    first = next(f["stream"] for f in fake.frames if f["req_id"] == req)
    assert not first["finish"] and first["id"] == answer["stream"]["id"]
    assert answer["stream"]["finish"] and answer["stream"]["content"] == "（没有需要回复的内容）"
    assert fake.errors == []


@pytest.mark.slow
async def test_ws_an_answer_after_the_streams_6_minutes_is_pushed_with_a_note_on_its_chart(ws_bot_at):
    from orderbot.webhooks.common import WORKER

    client, fake, clock = ws_bot_at
    fake.drop_on_next_answer = True  # the answer is lost with the link; the outbox resends it 7 minutes later
    req = await fake.push_callback(group_message("w-late", "WangLei", "@OrderBot 查看华东区2月6日延迟TOP3客户"))
    await _until(lambda: any(f["req_id"] == req for f in fake.frames))
    clock.advance(minutes=7)
    await _until(lambda: fake.subscribed >= 2)
    clock.advance(seconds=5)  # past the retry the outbox set while the link was down
    client.app[WORKER].wake.set()
    await _until(lambda: fake.pushes)
    await asyncio.sleep(0.5)
    assert ("aibot_respond_msg", 846608) in fake.errors  # the stream was over: pushed instead
    [push] = fake.pushes  # the markdown only: no card pushed into the group, and nothing empty
    assert push["chatid"] == GROUP and push["msgtype"] == "markdown"
    assert "华东区2月6日延迟TOP3客户" in push["markdown"]["content"]
    assert "（1 张图表没能随这条超时的回答发出，请重新提问查看）" in push["markdown"]["content"]
    assert not [e for e in fake.errors if e[1] != 846608]
