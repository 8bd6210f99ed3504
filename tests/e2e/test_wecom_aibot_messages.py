"""More of what WeCom sends the AI bot, through the real transports: a mixed (图文混排) message over the callback
is answered from its text parts; a person entering the bot's 1:1 chat over the long connection gets the welcome
for their roles as `aibot_respond_welcome_msg`, within WeCom's 5 s, and a stranger gets none."""

from __future__ import annotations

import asyncio
import time

from tests.e2e.test_wecom_aibot import GROUP, _until, staffed, urls, wecom_bot, ws_bot  # noqa: F401  (fixtures)
from tests.integration.test_dispatch import parser  # noqa: F401  (the fixture)
from tests.integration.test_reports import staffed_business  # noqa: F401  (the fixture)


async def test_a_mixed_message_is_answered_from_its_text(wecom_bot):  # noqa: F811
    client, driver = wecom_bot
    mixed = {
        "msg_item": [
            {"msgtype": "image", "image": {"url": "https://example.invalid/screenshot.png"}},
            {"msgtype": "text", "text": {"content": "@OrderBot 这个客户的单 SO202602010003 到哪了"}},
        ]
    }
    final = await driver.ask(driver.message("m-mixed", "mixed", mixed, user="LiuYang", chat=GROUP))
    assert final["stream"]["finish"] and "订单 SO202602010003" in final["stream"]["content"]
    assert driver.errors == []


def _enter_chat(msgid: str, user: str) -> dict:
    return {
        "msgid": msgid,
        "aibotid": "aibFAKE",
        "chattype": "single",
        "from": {"userid": user},
        "msgtype": "event",
        "event": {"eventtype": "enter_chat"},
    }


async def test_over_the_long_connection_entering_the_chat_gets_the_welcome(ws_bot):  # noqa: F811
    client, fake = ws_bot
    started = time.monotonic()
    req = await fake.push_callback(_enter_chat("e-ws-1", "LiuYang"), "aibot_event_callback")
    await _until(lambda: fake.answers(req), timeout=5)
    assert time.monotonic() - started < 5
    (welcome,) = fake.answers(req)
    assert welcome["cmd"] == "aibot_respond_welcome_msg"
    assert welcome["msgtype"] == "text" and welcome["text"]["content"].startswith("刘洋，你好")
    stranger = await fake.push_callback(_enter_chat("e-ws-2", "stranger"), "aibot_event_callback")
    await asyncio.sleep(0.5)
    assert fake.answers(stranger) == []
    assert fake.errors == []


async def test_an_answer_whose_commit_is_slower_than_the_response_may_wait_follows_by_the_stream(
    wecom_bot,  # noqa: F811
    monkeypatch,
):
    """The answer was ready (and claimed for the response) within the one-go window, but its transaction took
    longer to commit than a message's response waits: the response is the open stream, and the answer follows at
    WeCom's next poll through the outbox, once."""
    from sqlalchemy import select

    from orderbot.core.models import OutboxMessage
    from orderbot.messaging.pipeline import InboundPipeline
    from orderbot.webhooks.wecom_aibot import AIBOT

    client, driver = wecom_bot
    queue_reply = InboundPipeline._queue_reply

    async def slow_commit(*args, **kwargs):  # the reply is claimed just before this; its commit comes late
        outbox_id = await queue_reply(*args, **kwargs)
        await asyncio.sleep(0.3)
        return outbox_id

    monkeypatch.setattr(InboundPipeline, "_queue_reply", staticmethod(slow_commit))
    client.app[AIBOT].one_go = 0.2  # the card is ready and claimed well within it
    body = driver.message("m-slowcommit", "text", {"content": "@OrderBot 查单 SO202602010003"}, user="LiuYang")
    status, first = await driver.post(body)
    assert status == 200 and not first["stream"]["finish"]  # answered at once with the open stream
    final = await driver.ask(body)  # WeCom's retry of the same msgid follows the same stream to its end
    assert final["stream"]["finish"] and "订单 SO202602010003" in final["stream"]["content"]
    for _ in range(100):  # the outbox stores it as sent just after the poll carried it out
        async with client.app[AIBOT].pipeline.db.read() as s:
            rows = (await s.execute(select(OutboxMessage.state, OutboxMessage.attempts))).all()
        if [state for state, _ in rows] != ["pending"]:
            break
        await asyncio.sleep(0.05)
    assert [tuple(r) for r in rows] == [("sent", 1)]  # one answer, delivered once, by the outbox
    assert driver.urls.received == []  # nothing went a second way
    assert driver.errors == []
