"""Customer notices: WeChat Official Account template messages with dedupe, and the email fallback for
customers who do not follow the account, delivered to a real local SMTP server."""

from __future__ import annotations

import asyncio
import email
import email.policy

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from orderbot.messaging.senders.email import EmailSender
from orderbot.messaging.senders.wechat_mp import WeChatMpApi, WeChatMpSender
from orderbot.messaging.worker import OutboxWorker
from orderbot.core import outbox
from orderbot.core.models import OutboxMessage

from tests.fakes.wechat_mp import FakeWeChatMp


@pytest.fixture
async def mp():
    fake = FakeWeChatMp()
    server = TestServer(fake.app())
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


def shipment(openid_email=None, msg_id="ship-SO202602010001"):
    return {
        "template": "shipment",
        "client_msg_id": msg_id,
        "email": openid_email,
        "subject": "您的订单已发出",
        "text": "已发出|单号:YT123456789CN",
        "fields": {
            "order_no": "SO202602010001",
            "shipped_at": "2026-02-10 14:30",
            "product": "20000mAh 移动电源 黑色 超长的商品名称会被截断到二十个字",
            "carrier": "云途物流",
            "tracking_no": "YT123456789CN",
        },
    }


async def test_template_message_and_email_fallback(db, clock, config, mp, smtp):
    fake, base = mp
    inbox, smtp_url = smtp
    fake.followers.add("o-follower")
    async with aiohttp.ClientSession() as http:
        api = WeChatMpApi(http, base=base, app_id="wxapp", secret="mpsecret")
        sender = WeChatMpSender(api, config.wechat_mp.templates, EmailSender(smtp_url, sender="bot@shop.example"))
        async with db.write() as s:
            for _ in range(2):  # the second is the same notice again: refused by its dedupe key
                queued = await outbox.enqueue(
                    s,
                    channel="wechat_mp",
                    destination="openid:o-follower",
                    kind="customer",
                    payload=shipment(),
                    now=clock(),
                    dedupe_key="ship:SO202602010001",
                )
            assert not queued
            await outbox.enqueue(
                s,
                channel="wechat_mp",
                destination="openid:o-stranger",
                kind="customer",
                payload=shipment("buyer@example.com", "ship-2"),
                now=clock(),
            )
            await outbox.enqueue(
                s,
                channel="wechat_mp",
                destination="openid:o-nomail",
                kind="customer",
                payload=shipment(None, "ship-3"),
                now=clock(),
            )
        assert await OutboxWorker(db, {"wechat_mp": sender}, clock, seed=1).run_once() == 2
    (sent,) = fake.sent
    assert sent["client_msg_id"] == "ship-SO202602010001"
    assert sent["data"]["character_string14"] == {"value": "YT123456789CN"}
    assert len(sent["data"]["thing4"]["value"]) == 20
    await asyncio.sleep(0.05)
    ((rcpts, content),) = inbox.messages
    assert rcpts == ["buyer@example.com"] and "YT123456789CN" in content
    async with db.read() as s:
        (dead,) = await outbox.listing(s, dead=True)
        rows = {r.destination: r for r in (await s.execute(select(OutboxMessage))).scalars()}
    assert dead.destination == "openid:o-nomail" and "43101" in dead.last_error
    assert rows["openid:o-stranger"].state == "sent" and "改发邮件" in rows["openid:o-stranger"].last_error


async def test_email_refusal_is_permanent_and_bad_url_rejected(smtp):
    with pytest.raises(ValueError, match="smtp://"):
        EmailSender("http://mail.example.com")
    inbox, url = smtp
    sender = EmailSender(url)
    await sender.send_mail("a@b.c", "主题", "正文：中文")
    await asyncio.sleep(0.05)
    assert inbox.messages and inbox.messages[0][0] == ["a@b.c"]


async def test_untrusted_ip_reaches_healthz_and_the_admins_inbox(db, clock, config, smtp):
    from aiohttp.test_utils import TestClient

    from orderbot.app import create_app
    from orderbot.messaging.reply import Reply
    from orderbot.config import parse_config
    from orderbot.settings import load_settings
    from orderbot.webhooks.common import WORKER

    from tests.conftest import EXAMPLE_CONFIG
    from tests.fakes.wecom import FakeWeCom
    from tests.helpers import no_reply

    inbox, smtp_url = smtp
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        'roles = ["sales_director", "management"]',
        'roles = ["sales_director", "management"]\nemail = "boss@shop.example"',
    )
    cfg = parse_config(text)
    fake = FakeWeCom(corp_id="wwcorp", secret="app-secret")
    fake.untrusted_ip = True
    wecom_server = TestServer(fake.app())
    await wecom_server.start_server()
    settings = load_settings(
        env_file=None,
        WECOM_CORP_ID="wwcorp",
        WECOM_SECRET="app-secret",
        WECOM_AGENT_ID="7",
        WECOM_API_BASE=str(wecom_server.make_url("")).rstrip("/"),
        SMTP_URL=smtp_url,
    )
    app = create_app(settings, config=cfg, db=db, clock=clock, handler=no_reply, run_worker=False)
    async with TestClient(TestServer(app)) as client:
        async with db.write() as s:
            await outbox.enqueue(
                s, channel="wecom", destination="user:A", kind="reply", payload=Reply(text="hi").to_dict(), now=clock()
            )
        await app[WORKER].run_once()
        health = await (await client.get("/healthz")).json()
        assert health["status"] == "degraded" and "60020" in health["platforms"]["wecom"]
        await app[WORKER].run_once()  # delivers the admin email
    await wecom_server.close()
    await asyncio.sleep(0.05)
    ((rcpts, content),) = inbox.messages
    mail = email.message_from_string(content, policy=email.policy.default)
    assert rcpts == ["boss@shop.example"] and "wecom" in mail["Subject"]
    assert "60020" in mail.get_body().get_content()
