"""WeCom AI-bot groups and people: alerts to a group (no buttons can be pushed there) also go to the owners as
cards 1:1; `check-config` says which groups show buttons; a sender is found by userid or open_userid."""

from __future__ import annotations

from datetime import timedelta

from orderbot.bot.alerting import RulesRunner
from orderbot.cli.config import _button_hints
from orderbot.config import GroupEntry
from orderbot.settings import load_settings
from orderbot.messaging.addresses import Addresses

from tests.integration.test_rules import NOW, Harness, _in_customs, _keys, _orders, world  # noqa: F401

GROUP = "wrS7aGNQAApqNLsMLS_7RurTthP1vi5A"


def _with_aibot_group(config):
    groups = dict(config.groups)
    groups["customs"] = GroupEntry(
        name="关务群", platform="wecom_aibot", chat_id=GROUP, webhook_key="HOOK", receives=["customs_stuck"]
    )
    return config.model_copy(update={"groups": groups})


async def test_a_buttonless_group_alert_also_goes_to_the_owners_as_a_card(world, config):  # noqa: F811
    from orderbot.core.clock import ManualClock

    config = _with_aibot_group(config)
    h = Harness(world, config, ManualClock(NOW))
    h.runner = RulesRunner(world, config, h.clock, addresses=Addresses({"wecom_aibot"}))
    [slow] = await _orders(world, config, 1, prefix="SO26030301", at=NOW - timedelta(days=7))
    await _in_customs(world, [slow], hours=49)
    await h.evaluate(only={"customs_stuck"})
    [group] = await h.outbox(f"chat:{GROUP}")
    [owner] = await h.outbox("user:ChenJing")  # the customs owner, 1:1 through the AI bot
    assert slow in group["text"] and _keys(owner)[0].startswith("customs_claim:")


def test_check_config_says_which_groups_show_buttons(config):
    config = _with_aibot_group(config)
    callback = _button_hints(load_settings(env_file=None), config)
    assert any("群 customs（关务群）：在群里@机器人得到的回答带按钮" in h and "消息推送 webhook" in h for h in callback)
    assert any("群 warehouse（仓库群）：告警卡片带按钮" in h for h in callback)
    ws = _button_hints(load_settings(env_file=None, WECOM_AIBOT_MODE="ws", WECOM_AIBOT_ID="aib1"), config)
    assert any("长连接以 markdown 推送" in h for h in ws) and any("WECOM_AIBOT_ID、WECOM_AIBOT_SECRET" in h for h in ws)


async def test_the_sender_is_found_by_userid_or_open_userid(db, config):
    from orderbot.bot.dispatch import Dispatcher
    from orderbot.config import StaffEntry
    from orderbot.core.staff import sync_staff
    from orderbot.messaging.inbound import ChatMessage, Origin

    staff = [*config.staff, StaffEntry(id="xiaomei", name="小美", roles=["sales"], wecom_open_userid="woXiaoMei")]
    config = config.model_copy(update={"staff": staff})
    async with db.write() as s:
        await sync_staff(s, config)
    dispatcher = Dispatcher(db, None, config, lambda: NOW)

    async def who(user: str):
        event = ChatMessage(Origin("wecom_aibot", user, GROUP), "帮助", f"msg:{user}", NOW)
        async with db.read() as s:
            asker = await dispatcher.asker(s, event)
        return asker.staff_id if asker else None

    assert (await who("woXiaoMei"), await who("WangLei"), await who("wanglei")) == ("xiaomei", "wanglei", None)


async def test_no_owner_card_is_queued_where_nobody_can_be_sent_one(world, config):  # noqa: F811
    """Callback mode without the WeCom app or DingTalk: the group has the alert (through its webhook); the owners'
    copy of the card could reach nobody, so no dead row is queued for it."""
    from orderbot.core.clock import ManualClock

    config = _with_aibot_group(config)
    h = Harness(world, config, ManualClock(NOW))
    h.runner = RulesRunner(world, config, h.clock, addresses=Addresses(set()))
    [slow] = await _orders(world, config, 1, prefix="SO26030302", at=NOW - timedelta(days=7))
    await _in_customs(world, [slow], hours=49)
    await h.evaluate(only={"customs_stuck"})
    [group] = await h.outbox(f"chat:{GROUP}")
    assert slow in group["text"]
    assert await h.outbox() == [group]  # nothing else: no "staff:…" rows nobody could receive
