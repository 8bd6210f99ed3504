"""DingTalk: signed HTTP callbacks, message kinds, session-webhook and OpenAPI replies, chart links, Stream mode."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from orderbot.app import create_app
from orderbot.messaging.senders.dingtalk import DingTalkApi, DingTalkSender
from orderbot.messaging.links import MediaLinks
from orderbot.messaging.worker import OutboxWorker
from orderbot.messaging.inbound import CardAction, ChatMessage
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.messaging.reply import Button, Card, Chart, Reply
from orderbot.core import outbox
from orderbot.core.models import InboundEvent, OutboxMessage
from orderbot.settings import load_settings
from orderbot.webhooks.dingtalk import dingtalk_sign
from orderbot.webhooks.dingtalk_stream import StreamRunner

from tests.fakes import serving
from tests.fakes.dingtalk import FakeDingTalk
from tests.helpers import no_reply, send_by_session
from tests.e2e.test_wecom_callback import Recorder

SECRET = "dingsecret"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


SESSION = "https://oapi.dingtalk.com/robot/sendBySession?session=76da36b4"


def message(
    msg_id="msgA", text="查单 SO202602010001", *, group=False, kind="text", session=SESSION, expires_ms=None, clock=None
):
    body = {
        "msgId": msg_id,
        "senderStaffId": "0101",
        "senderNick": "王磊",
        "conversationId": "cid123==",
        "conversationType": "2" if group else "1",
        "robotCode": "dingkey",
        "msgtype": kind,
        "createAt": int(clock().timestamp() * 1000) if clock else 1700000000000,
        "sessionWebhook": session,
        "sessionWebhookExpiredTime": expires_ms or (int(clock().timestamp() * 1000) + 5_400_000 if clock else 0),
    }
    if kind == "text":
        body["text"] = {"content": " " + text}
    elif kind == "richText":
        body["content"] = {
            "richText": [{"text": "查单 "}, {"pictureDownloadCode": "p", "type": "picture"}, {"text": "SO202602010001"}]
        }
    elif kind == "audio":
        body["content"] = {"duration": 4000, "downloadCode": "dc", "recognition": text}
    return body


@pytest.fixture
def recorder():
    return Recorder(reply=lambda e: Reply(text="收到"))


def with_dingtalk_staff(config):
    """The example directory with its first person bound to DingTalk user 0101 (the sender of `message`)."""
    first, *rest = config.staff
    return config.model_copy(update={"staff": [first.model_copy(update={"dingtalk_userid": "0101"}), *rest]})


@pytest.fixture
async def client(db, config, clock, recorder):
    settings = load_settings(env_file=None, DINGTALK_APP_KEY="dingkey", DINGTALK_APP_SECRET=SECRET)
    app = create_app(
        settings, config=with_dingtalk_staff(config), db=db, clock=clock, handler=recorder, run_worker=False
    )
    async with TestClient(TestServer(app)) as c:
        yield c


async def settle(client) -> None:
    from orderbot.webhooks.dingtalk import DINGTALK

    await client.app[DINGTALK].background.drain(timeout=10)
    await client.app[DINGTALK].pipeline.drain(timeout=10)


def signed(clock, skew_ms: int = 0, secret: str = SECRET) -> dict:
    ts = str(int(clock().timestamp() * 1000) + skew_ms)
    return {"timestamp": ts, "sign": dingtalk_sign(secret, ts)}


async def test_signed_messages_of_each_kind(client, recorder, clock, db):
    for body in (
        message("m1", clock=clock),
        message("m2", kind="richText", clock=clock),
        message("m3", "查看华东区昨日延迟TOP3客户", kind="audio", clock=clock),
        message("m4", "#btn undo_freeze:tiktok", group=True, clock=clock),
    ):
        resp = await client.post("/dingtalk/callback", json=body, headers=signed(clock))
        assert resp.status == 200, await resp.text()
    await settle(client)
    texts = [e.text for e in recorder.events if isinstance(e, ChatMessage)]
    assert texts == ["查单 SO202602010001", "查单 SO202602010001", "查看华东区昨日延迟TOP3客户"]
    assert recorder.events[2].is_voice
    action = recorder.events[3]
    assert isinstance(action, CardAction) and action.key == "undo_freeze:tiktok"
    assert action.origin.chat_id == "cid123==" and action.origin.reply_to == "group:cid123=="
    async with db.read() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    assert rows[0].destination == "user:0101" and rows[0].payload["_route"]["session"] == SESSION


async def test_duplicate_msgid_acts_once(client, recorder, clock):
    for _ in range(3):
        assert (await client.post("/dingtalk/callback", json=message(clock=clock), headers=signed(clock))).status == 200
    await settle(client)
    assert len(recorder.events) == 1


@pytest.mark.parametrize(
    "headers_of",
    [
        lambda clock: signed(clock, secret="wrong"),
        lambda clock: signed(clock, skew_ms=3_700_000),
        lambda clock: {"timestamp": "abc", "sign": "x"},
        lambda clock: {},
    ],
)
async def test_bad_sign_or_stale_timestamp_is_401(client, recorder, clock, headers_of):
    resp = await client.post("/dingtalk/callback", json=message(clock=clock), headers=headers_of(clock))
    assert resp.status == 401 and recorder.events == []


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"msgtype": "text"}', "不是JSON".encode()])
async def test_malformed_body_is_400(client, recorder, clock, raw):
    resp = await client.post("/dingtalk/callback", data=raw, headers=signed(clock))
    assert resp.status == 400 and recorder.events == []


@pytest.fixture
async def fake_ding(clock):
    async with serving(FakeDingTalk(clock=lambda: clock().timestamp())) as fake:
        yield fake


async def test_replies_use_session_then_openapi_with_chart_links(db, clock, fake_ding):
    links = MediaLinks("https://bot.example.com", b"k" * 32)
    async with aiohttp.ClientSession() as http:
        api = DingTalkApi(http, base=fake_ding.base, app_key="dingkey", app_secret=SECRET)
        sender = DingTalkSender(http, api, db, links, clock)
        session_url = f"{fake_ding.base}/robot/sendBySession?session=S1"
        now_ms = int(clock().timestamp() * 1000)
        live = {
            "session": session_url,
            "session_expires": str(now_ms + 3_600_000),
            "robot_code": "dingkey",
            "at_user": "0101",
        }
        dead = {**live, "session_expires": str(now_ms - 1)}
        card = Card("渠道已冻结：TikTok", "取消率超标", buttons=(Button("撤销冻结", "undo_freeze:tiktok"),))
        reply = Reply(text="取消率 4.2%", card=card, charts=(Chart("取消率趋势", PNG),))
        async with db.write() as s:
            await outbox.enqueue(
                s,
                channel="dingtalk",
                destination="group:cid1",
                kind="reply",
                payload={**reply.to_dict(), "_route": live},
                now=clock(),
            )
            await outbox.enqueue(
                s,
                channel="dingtalk",
                destination="group:cid1",
                kind="reply",
                payload={**Reply(text="第二条").to_dict(), "_route": dead},
                now=clock(),
            )
            await outbox.enqueue(
                s,
                channel="dingtalk",
                destination="user:0101",
                kind="reply",
                payload=Reply(text="私聊").to_dict(),
                now=clock(),
            )
        assert await OutboxWorker(db, {"dingtalk": sender}, clock, seed=1).run_once() == 3
    (first,) = fake_ding.session_messages["S1"]
    text = first["markdown"]["text"]
    assert "dtmd://dingtalkclient/sendMessage?content=%23btn%20undo_freeze%3Atiktok" in text
    assert first["at"]["atUserIds"] == ["0101"] and "@0101" in text
    url = text.split("![取消率趋势](")[1].split(")")[0]
    assert url.startswith("https://bot.example.com/charts/")
    by_path = dict(fake_ding.api_messages)  # destinations drain concurrently: compare by endpoint
    assert by_path.keys() == {"/v1.0/robot/groupMessages/send", "/v1.0/robot/oToMessages/batchSend"}
    assert by_path["/v1.0/robot/groupMessages/send"]["openConversationId"] == "cid1"
    assert json.loads(by_path["/v1.0/robot/oToMessages/batchSend"]["msgParam"])["text"] == "私聊"
    # the chart link is served by the app, and only while valid and untampered
    token = url.rsplit("/", 1)[1].removesuffix(".png")
    settings = load_settings(env_file=None)
    app = create_app(settings, db=db, clock=clock, handler=no_reply, run_worker=False)
    from orderbot.webhooks.charts import LINKS

    app[LINKS] = links
    async with TestClient(TestServer(app)) as c:
        ok = await c.get(f"/charts/{token}.png")
        assert ok.status == 200 and await ok.read() == PNG and ok.content_type == "image/png"
        tampered = token[:-1] + ("1" if token.endswith("0") else "0")
        assert (await c.get(f"/charts/{tampered}.png")).status == 403
        clock.advance(days=8)
        assert (await c.get(f"/charts/{token}.png")).status == 403


async def test_session_rate_limit_waits_a_minute(db, clock, fake_ding):
    async with aiohttp.ClientSession() as http:
        # the API's base (DINGTALK_API_BASE) is what makes the local session webhook trusted
        api = DingTalkApi(http, base=fake_ding.base, app_key="dingkey", app_secret=SECRET)
        sender = DingTalkSender(http, api, db, MediaLinks("https://x", b"k"), clock)
        route = {
            "session": f"{fake_ding.base}/robot/sendBySession?session=S2",
            "session_expires": str(int(clock().timestamp() * 1000) + 7_200_000),
        }
        async with db.write() as s:
            for i in range(22):
                await outbox.enqueue(
                    s,
                    channel="dingtalk",
                    destination="group:c",
                    kind="reply",
                    payload={**Reply(text=f"第{i}条").to_dict(), "_route": route},
                    now=clock(),
                )
        worker = OutboxWorker(db, {"dingtalk": sender}, clock, seed=1)
        assert await worker.run_once() == 20
        clock.advance(seconds=61)
        assert await worker.run_once() == 2
    assert [m["markdown"]["text"] for m in fake_ding.session_messages["S2"]] == [f"第{i}条" for i in range(22)]


async def test_stream_mode_against_a_local_gateway(db, clock, fake_ding, recorder):
    frame_data = message("stream-1", "现在订单都卡在哪", clock=clock)
    frame = {
        "specVersion": "1.0",
        "type": "CALLBACK",
        "headers": {
            "topic": "/v1.0/im/bot/messages/get",
            "messageId": "mid-1",
            "contentType": "application/json",
            "time": "1700000000000",
        },
        "data": json.dumps(frame_data, ensure_ascii=False),
    }
    fake_ding.stream_frames = [frame, frame]  # pushed twice: processed once
    pipeline = InboundPipeline(db, recorder, clock)
    runner = StreamRunner(app_key="dingkey", app_secret=SECRET, api_base=fake_ding.base, pipeline=pipeline)
    loop_blocked = []

    async def heartbeat():  # our loop keeps ticking while the SDK works in its own thread
        for _ in range(20):
            t = loop.time()
            await asyncio.sleep(0.01)
            loop_blocked.append(loop.time() - t)

    loop = asyncio.get_running_loop()
    runner.start(loop)
    try:
        await asyncio.gather(heartbeat(), asyncio.wait_for(fake_ding.stream_connected.wait(), 10))
        for _ in range(100):
            if len(fake_ding.acks) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.stop()
    assert [e.text for e in recorder.events] == ["现在订单都卡在哪"]
    assert all(a["code"] == 200 and a["headers"]["messageId"] == "mid-1" for a in fake_ding.acks)
    assert max(loop_blocked) < 0.5
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.channel == "dingtalk" and row.destination == "user:0101"
    assert timedelta(0) <= row.next_attempt_at - clock() <= timedelta(seconds=1)


async def test_a_label_sent_to_the_robot_is_a_scan(client, recorder, clock):
    from orderbot.messaging.inbound import ScanEvent

    body = message("scan-1", "OB1|SO202602010001|PB-20K-BLK|B260201|1|abcdef12", clock=clock)
    assert (await client.post("/dingtalk/callback", json=body, headers=signed(clock))).status == 200
    await settle(client)
    (event,) = recorder.events
    assert isinstance(event, ScanEvent) and event.text == "OB1|SO202602010001|PB-20K-BLK|B260201|1|abcdef12"
    assert event.station == "dingtalk:0101" and not event.wants_reply


# --- issue 13: the DingTalk door against a hostile sender ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/robot/sendBySession?session=x",  # the exfiltration of issue 13, item 1
        "http://oapi.dingtalk.com/robot/sendBySession?session=x",  # not https
        "https://oapi.dingtalk.com.evil.example/robot/sendBySession",  # a look-alike host
        "https://user@evil.example.com@oapi.dingtalk.com/x",
        "https://oapi.dingtalk.com:8443/robot/sendBySession",
    ],
)
async def test_a_session_webhook_off_dingtalk_is_dropped(client, recorder, clock, db, url):
    resp = await client.post(
        "/dingtalk/callback", json=message("evil", session=url, clock=clock), headers=signed(clock)
    )
    assert resp.status == 200
    await settle(client)
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert "session" not in row.payload["_route"]  # the reply can only go through DingTalk's OpenAPI


def test_session_webhook_hosts():
    from orderbot.messaging.dingtalk_hosts import session_webhook_allowed

    assert session_webhook_allowed(SESSION)
    assert session_webhook_allowed("https://api.dingtalk.com/v1.0/robot/x")
    assert session_webhook_allowed("http://127.0.0.1:4567/robot/sendBySession?session=S", "http://127.0.0.1:4567")
    assert not session_webhook_allowed("http://127.0.0.1:4568/robot/sendBySession", "http://127.0.0.1:4567")
    assert not session_webhook_allowed("https://evil.example.com/robot/sendBySession", "https://api.dingtalk.com")
    assert not session_webhook_allowed(["https://oapi.dingtalk.com/"])


async def test_the_sender_refuses_a_foreign_session_webhook(db, clock, fake_ding):
    """Rows queued before the inbound check (or by another path) still never post outside DingTalk."""
    async with serving(FakeDingTalk(clock=lambda: clock().timestamp())) as evil:
        async with aiohttp.ClientSession() as http:
            api = DingTalkApi(http, base=fake_ding.base, app_key="dingkey", app_secret=SECRET)
            sender = DingTalkSender(http, api, db, MediaLinks("https://bot.example.com", b"k" * 32), clock)
            reply = Reply(text="客户：某某 金额 ¥100").to_dict()
            evil_url = f"{evil.base}/robot/sendBySession?session=S1"
            assert await send_by_session(db, clock, sender, reply, evil_url, robot_code="dingkey") == 1
        assert evil.session_messages == {} and len(fake_ding.api_messages) == 1


async def test_a_sender_outside_the_staff_directory_is_refused(client, recorder, clock, db):
    body = {**message("stranger", clock=clock), "senderStaffId": "9999"}
    resp = await client.post("/dingtalk/callback", json=body, headers=signed(clock))
    assert resp.status == 403 and recorder.events == []
    async with db.read() as s:
        assert (await s.execute(select(InboundEvent))).first() is None


@pytest.mark.parametrize(
    "change",
    [
        {"text": "hi"},
        {"createAt": 1e30},
        {"createAt": "abc"},
        {"sessionWebhookExpiredTime": "abc"},
        {"msgId": {"a": 1}},
        {"conversationType": 2},
        {"msgtype": ["text"]},
        {"senderStaffId": 101, "senderId": None},
        {"text": {"content": ["x"]}},
        {"msgId": "m" * 300},
    ],
)
async def test_malformed_fields_are_400(client, recorder, clock, db, change):
    resp = await client.post(
        "/dingtalk/callback", json={**message("bad", clock=clock), **change}, headers=signed(clock)
    )
    assert resp.status == 400, await resp.text()
    assert recorder.events == []


async def test_deep_or_oversized_bodies_are_4xx(client, recorder, clock):
    deep = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    assert (await client.post("/dingtalk/callback", data=deep, headers=signed(clock))).status in (400, 413)
    assert (
        await client.post("/dingtalk/callback", data=b'{"msgId":"x","n":1e400}', headers=signed(clock))
    ).status == 400
    big = b'{"msgId":"' + b"x" * 200_000 + b'"}'
    assert (await client.post("/dingtalk/callback", data=big, headers=signed(clock))).status == 413
    assert recorder.events == []
