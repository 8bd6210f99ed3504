"""WeCom callbacks over real HTTP: published vectors, encrypted round trips, dedupe, passive replies, and every
negative case answered with a 4xx (never a 500, which WeCom would retry)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from wechatpy.enterprise.crypto import WeChatCrypto

from orderbot.app import create_app
from orderbot.messaging.inbound import CardAction, ChatMessage, EnterAgent, ScanEvent
from orderbot.messaging.pipeline import VOICE_HELP
from orderbot.messaging.reply import Reply
from orderbot.core.models import InboundEvent, OutboxMessage
from orderbot.webhooks.wecom import WECOM, seal
from orderbot.webhooks.wecom_xml import fields, parse_xml

from tests.helpers import wecom_settings

# wechatpy v1.8.18 tests/test_crypto.py (reference/wecom_dingtalk.md §2, vector B)
TOKEN, AES_KEY, CORP = "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a"
B1 = {
    "msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    "timestamp": "1411443780",
    "nonce": "437374425",
    "echostr": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
}
B2_QUERY = {
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    "timestamp": "1411525903",
    "nonce": "461056294",
}
B2_XML = """<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>
<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>
<AgentID><![CDATA[1]]></AgentID>
</xml>"""


class Recorder:
    """A handler that records what reached it and answers as told."""

    def __init__(self, reply=None, delay: float = 0.0):
        self.events = []
        self.reply = reply
        self.delay = delay

    async def __call__(self, event, session):
        self.events.append(event)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.reply(event) if callable(self.reply) else self.reply


@pytest.fixture
def recorder():
    return Recorder(reply=lambda e: Reply(text=f"好的：{getattr(e, 'text', '')}"))


@pytest.fixture
async def client(db, config, clock, recorder):
    settings = wecom_settings(TOKEN, AES_KEY, CORP, ORDERBOT_MAX_BODY_BYTES=65536)
    app = create_app(settings, config=config, db=db, clock=clock, handler=recorder, run_worker=False)
    async with TestClient(TestServer(app)) as c:
        yield c


async def settle(client) -> None:
    """Text messages are answered in the background after the 200: wait for that work."""
    await client.app[WECOM].background.drain(timeout=10)
    await client.app[WECOM].pipeline.drain(timeout=10)


def encrypt(
    plain: str,
    *,
    corp: str = CORP,
    key: str = AES_KEY,
    token: str = TOKEN,
    nonce: str = "n0nce",
    ts: str = "1700000000",
) -> tuple[dict, str]:
    return seal(WeChatCrypto(token, key, corp), token, corp, plain, nonce=nonce, timestamp=ts)


def text_xml(content: str, msg_id: str = "CAIQg/PKxgYY2sC9tpuAgAMg9/zKaw==", user: str = "ZhangSan") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId><AgentID>1</AgentID></xml>"
    )


def event_xml(event: str, extra: str = "", user: str = "ZhangSan", key: str = "station-1") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey>{extra}"
        f"<AgentID>1</AgentID></xml>"
    )


async def test_url_verification_vector(client):
    resp = await client.get("/wecom/callback", params=B1)
    assert resp.status == 200 and await resp.text() == "5927782489442352469"
    assert resp.headers["Content-Type"].startswith("text/plain")
    resp = await client.get("/wecom/callback", params={**B1, "nonce": "437374424"})
    assert resp.status == 401
    resp = await client.get("/wecom/callback", params={k: v for k, v in B1.items() if k != "echostr"})
    assert resp.status == 400


async def test_published_message_vector_is_decrypted_and_handled(client, recorder, db):
    resp = await client.post("/wecom/callback", params=B2_QUERY, data=B2_XML)
    assert resp.status == 200 and await resp.text() == ""
    await settle(client)
    (event,) = recorder.events
    assert isinstance(event, ChatMessage) and event.text == "test" and event.origin.user_id == "messense"
    assert event.dedupe_key == "msg:4363689963896700987"
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert (row.channel, row.destination, row.payload["text"]) == ("wecom", "user:messense", "好的：test")


async def test_retried_callback_acts_once(client, recorder, db):
    query, body = encrypt(text_xml("查单 SO202602010001"))
    for _ in range(4):
        resp = await client.post("/wecom/callback", params=query, data=body)
        assert resp.status == 200
    await settle(client)
    assert len(recorder.events) == 1
    async with db.read() as s:
        assert len((await s.execute(select(OutboxMessage))).scalars().all()) == 1
        assert len((await s.execute(select(InboundEvent))).scalars().all()) == 1


async def test_string_msgid_and_chinese_round_trip(client, recorder):
    query, body = encrypt(text_xml("查看华东区昨日延迟TOP3客户", msg_id="CAIQg/PKxgYY2sC9tpuAgAMg9/zKaw=="))
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 200
    await settle(client)
    assert recorder.events[0].text == "查看华东区昨日延迟TOP3客户"
    assert recorder.events[0].dedupe_key == "msg:CAIQg/PKxgYY2sC9tpuAgAMg9/zKaw=="


async def test_scancode_waitmsg_gets_encrypted_passive_reply(client, recorder, db):
    scan = (
        "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>"
        "<ScanResult><![CDATA[QR_CODE,OB1|SO202602010001|PB-20K-BLK|B1|1|abcd1234]]></ScanResult></ScanCodeInfo>"
    )
    query, body = encrypt(event_xml("scancode_waitmsg", scan))
    resp = await client.post("/wecom/callback", params=query, data=body)
    assert resp.status == 200
    (event,) = recorder.events
    assert isinstance(event, ScanEvent) and event.wants_reply and event.station == "station-1"
    assert event.text == "OB1|SO202602010001|PB-20K-BLK|B1|1|abcd1234"
    reply_xml = await resp.text()
    envelope = fields(parse_xml(reply_xml))
    plain = WeChatCrypto(TOKEN, AES_KEY, CORP).decrypt_message(
        {"Encrypt": envelope["Encrypt"]}, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]
    )
    answer = fields(parse_xml(plain))
    assert answer["ToUserName"] == "ZhangSan" and answer["Content"] == f"好的：{event.text}"
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.state == "sent" and row.last_error == "被动回复"  # the worker will not send it again


async def test_slow_scan_is_acknowledged_and_answered_through_the_outbox(client, recorder, db):
    recorder.delay = 0.5
    client.app[WECOM].passive_deadline = 0.05
    query, body = encrypt(
        event_xml(
            "scancode_waitmsg", "<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult>X</ScanResult></ScanCodeInfo>"
        )
    )
    started = time.monotonic()
    resp = await client.post("/wecom/callback", params=query, data=body)
    assert resp.status == 200 and await resp.text() == ""
    assert time.monotonic() - started < 0.45
    await client.app[WECOM].background.drain(timeout=5)
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.state == "pending" and row.destination == "user:ZhangSan"


async def test_template_card_event_with_several_selections(client, recorder):
    extra = (
        "<TaskId><![CDATA[task-9]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
        "<ResponseCode><![CDATA[RC1]]></ResponseCode><SelectedItems>"
        "<SelectedItem><QuestionKey><![CDATA[q1]]></QuestionKey><OptionIds><OptionId><![CDATA[a]]></OptionId>"
        "<OptionId><![CDATA[b]]></OptionId></OptionIds></SelectedItem>"
        "<SelectedItem><QuestionKey><![CDATA[q2]]></QuestionKey><OptionIds><OptionId><![CDATA[c]]></OptionId>"
        "</OptionIds></SelectedItem></SelectedItems>"
    )
    query, body = encrypt(event_xml("template_card_event", extra, key="undo_freeze:tiktok"))
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 200
    await settle(client)
    (event,) = recorder.events
    assert isinstance(event, CardAction) and event.key == "undo_freeze:tiktok" and event.task_id == "task-9"
    assert event.response_code == "RC1" and event.selections == {"q1": ("a", "b"), "q2": ("c",)}


async def test_voice_without_transcript_asks_to_type(client, recorder, db):
    voice = (
        f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>LiuYang</FromUserName><CreateTime>1700000002"
        f"</CreateTime><MsgType>voice</MsgType><MediaId>m1</MediaId><Format>amr</Format><MsgId>77</MsgId>"
        f"<AgentID>1</AgentID></xml>"
    )
    query, body = encrypt(voice)
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 200
    await settle(client)
    assert recorder.events == []
    async with db.read() as s:
        row = (await s.execute(select(OutboxMessage))).scalar_one()
    assert row.payload["text"] == VOICE_HELP and "转文字" in VOICE_HELP


async def test_enter_agent_reaches_the_handler(client, recorder):
    query, body = encrypt(event_xml("enter_agent", key=""))
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 200
    await settle(client)
    assert isinstance(recorder.events[0], EnterAgent)


BOMB = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<xml><Encrypt>&lol2;</Encrypt></xml>"""
XXE = (
    b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Encrypt>&e;</Encrypt></xml>"""
)


@pytest.mark.parametrize(
    "body,status",
    [
        (b"not xml at all", 400),
        (b"<xml><Encrypt>abc", 400),
        (b"<other><Encrypt>abc</Encrypt></other>", 401),  # the signature is checked before any XML parse
        (b"<xml><ToUserName>x</ToUserName></xml>", 400),
        (BOMB, 400),
        (XXE, 400),
        (b"", 400),
    ],
)
async def test_bad_bodies_are_4xx_and_store_nothing(client, recorder, db, body, status):
    resp = await client.post("/wecom/callback", params=B2_QUERY, data=body)
    assert resp.status == status
    assert recorder.events == []
    async with db.read() as s:
        assert (await s.execute(select(InboundEvent))).first() is None


async def test_wrong_signature_wrong_corp_wrong_key_and_oversize(client, recorder):
    query, body = encrypt(text_xml("hi"))
    assert (await client.post("/wecom/callback", params={**query, "msg_signature": "0" * 40}, data=body)).status == 401
    query, body = encrypt(text_xml("hi"), corp="wwOTHERCORP")
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 403
    query, body = encrypt(text_xml("hi"), key="A" * 43)  # signed with our token, encrypted with another key
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 400
    query, body = encrypt(text_xml("x" * 70000))
    assert (await client.post("/wecom/callback", params=query, data=body)).status == 413
    assert (await client.post("/wecom/callback", data=B2_XML)).status == 400  # no query parameters
    assert recorder.events == []
