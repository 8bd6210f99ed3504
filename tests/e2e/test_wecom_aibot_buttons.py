"""Every kind of card button of the bot works through the WeCom AI bot's callback (real HTTP, the JSON envelope,
the fake platform's checks), on SQLite and PostgreSQL: a stuck-customs alert claimed and released, an alert
acknowledged, a paused courier batch resumed, a task taken and done. Each press by someone whose role may not is
refused on their card only; the owner's press changes the card for everyone."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from orderbot.app import create_app
from orderbot.core.models import Alert, AuditEntry, Order, Task
from orderbot.core.orders.service import open_task
from orderbot.settings import load_settings
from orderbot.webhooks.aibot_crypto import AibotCrypto

from tests.e2e.test_wecom_aibot import AES_KEY, GROUP, TOKEN, urls  # noqa: F401  (the fixture)
from tests.fakes.wecom_aibot import CallbackDriver
from tests.integration.test_rules import NOW, Harness, _in_customs, _orders, world  # noqa: F401  (the fixture)


@pytest.fixture
async def bot(world, config, urls):  # noqa: F811
    settings = load_settings(
        env_file=None, WECOM_AIBOT_TOKEN=TOKEN, WECOM_AIBOT_ENCODING_AES_KEY=AES_KEY, WECOM_AIBOT_ID="aibFAKE"
    )
    app = create_app(settings, config=config, db=world, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        async with aiohttp.ClientSession() as http:
            driver = CallbackDriver(http, str(client.make_url("/wecom/aibot")), AibotCrypto(TOKEN, AES_KEY), urls)
            yield world, driver


class Presses:
    def __init__(self, driver):
        self.driver, self.n = driver, 0

    async def __call__(self, user: str, key: str) -> tuple[dict, str]:
        """The template_card_event WeCom sends when `user` presses the button `key` in the group: the answer
        (an update_template_card) and all of its text, for looking a phrase up wherever the card puts it."""
        self.n += 1
        event = {"card_type": "button_interaction", "event_key": key, "task_id": f"card-{self.n}"}
        body = self.driver.event(f"press-{self.n}", "template_card_event", event, user=user, chat=GROUP)
        status, reply = await self.driver.post(body, "template_card_event")
        assert status == 200 and reply["response_type"] == "update_template_card", reply
        return reply, json.dumps(reply["template_card"], ensure_ascii=False)


async def test_a_stuck_customs_alert_is_claimed_and_released_by_customs_only(bot, config):
    db, driver = bot
    [stuck] = await _orders(db, config, 1, prefix="SO26030301", at=NOW - timedelta(days=7))
    await _in_customs(db, [stuck], hours=49)
    await Harness(db, config, lambda: NOW).evaluate(only={"customs_stuck"})
    async with db.read() as s:
        alert = (await s.execute(select(Alert).where(Alert.rule == "customs_stuck"))).scalar_one()
    press = Presses(driver)

    refused, text = await press("WangLei", f"alert_ack:{alert.id}")  # a salesperson
    assert refused["userids"] == ["WangLei"] and "关务" in text
    acked, text = await press("ChenJing", f"alert_ack:{alert.id}")
    assert "userids" not in acked
    async with db.read() as s:
        assert (await s.get(Alert, alert.id)).state == "acknowledged"
    refused, text = await press("WangLei", f"customs_claim:{alert.id}")
    assert refused["userids"] == ["WangLei"] and "关务" in text
    claimed, text = await press("ChenJing", f"customs_claim:{alert.id}")
    assert "userids" not in claimed and "认领" in text
    async with db.read() as s:
        assert (await s.execute(select(Task.assignee).where(Task.type == "customs_stuck"))).scalar_one() == "chenjing"
    released, text = await press("ChenJing", f"customs_release:{alert.id}")
    assert "已放行" in text
    async with db.read() as s:
        assert (await s.get(Alert, alert.id)).state == "resolved"
    again, text = await press("ChenJing", f"alert_ack:{alert.id}")  # the card pressed again afterwards
    assert again["userids"] == ["ChenJing"] and "无需再处理" in text  # told only the one who pressed
    assert driver.errors == []


async def test_a_paused_courier_batch_is_resumed_by_logistics_not_by_a_packer(bot, config):
    from orderbot.core.courier import hold

    db, driver = bot
    async with db.write() as s:
        await hold(s, config, "深圳", actor="wujun", now=NOW)
    press = Presses(driver)
    refused, text = await press("ZhangSan", "courier_resume:深圳")
    assert refused["userids"] == ["ZhangSan"]
    resumed, text = await press("WuJun", "courier_resume:深圳")
    assert "userids" not in resumed and "恢复" in text
    async with db.read() as s:
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.action == "action.courier_resume"))).scalar_one()
    assert audit.actor == "wujun"
    assert driver.errors == []


async def test_a_task_is_taken_and_done_from_its_card(bot, config):
    db, driver = bot
    [order] = await _orders(db, config, 1, prefix="SO26030303", at=NOW - timedelta(days=1))
    async with db.write() as s:
        order_id = (await s.execute(select(Order.id).where(Order.order_no == order))).scalar_one()
        key = f"customs_docs:{order}"
        await open_task(s, key=key, type="customs_docs", subject=f"报关资料待补：{order}", now=NOW, order_id=order_id)
    async with db.read() as s:
        task = (await s.execute(select(Task.id).where(Task.key == key))).scalar_one()
    press = Presses(driver)
    taken, text = await press("ChenJing", f"task_take:{task}")
    assert "userids" not in taken and "认领" in text
    done, text = await press("ChenJing", f"task_done:{task}")
    assert "完成" in text
    async with db.read() as s:
        row = await s.get(Task, task)
    assert (row.assignee, row.state) == ("chenjing", "done")
    assert driver.errors == []
