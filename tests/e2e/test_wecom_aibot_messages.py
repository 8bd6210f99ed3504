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
