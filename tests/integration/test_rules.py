"""The alert rules on a controlled clock, on SQLite and PostgreSQL: each fires, dedupes, digests, reminds,
resolves, respects a silence, and its automatic action can be vetoed from the card; small denominators stay quiet."""

from __future__ import annotations

from datetime import date, datetime, timedelta, UTC

import pytest
from sqlalchemy import func, select, update

from orderbot.bot.alerting import RulesRunner, outcome_lines
from orderbot.bot.dispatch import Dispatcher
from orderbot.messaging.inbound import CardAction, Origin
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.messaging.addresses import Addresses
from orderbot.config import parse_config
from orderbot.core.clock import ManualClock
from orderbot.core.models import Alert, AuditEntry, Channel, Customer, Order, OutboxMessage, RuleEvaluation, Task
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.core.rules import silences
from orderbot.core.staff import sync_staff

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import add_products, order_json

UTC = UTC
NOW = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)  # 14:00 in Shanghai


@pytest.fixture
async def world(db, config, snapshots):
    async def build() -> None:
        async with db.write() as s:
            await add_products(s, config, stock=1000, at=NOW - timedelta(days=30))
            await sync_staff(s, config)

    await snapshots.seed(db, "rules", build)
    return db


async def _orders(db, config, n, *, prefix, at, channel="shopify", customer=None, **over):
    """n orders; each from its own customer unless one is named (so repeat_orders stays quiet)."""
    nos = []
    async with db.write() as s:
        for i in range(n):
            no = f"{prefix}{i:04d}"
            cid = customer or f"C{no}"
            over.setdefault("lines", [{"sku": "CASE-IP15-CLR", "qty": 1}])  # grade A: no customs documents
            data = order_json(
                no,
                channel=channel,
                channel_order_id=f"#{no}",
                created_at=at.isoformat(),
                customer={"id": cid, "name": f"客户{cid}", "province": "浙江"},
                **over,
            )
            await ingest_order(s, parse_order(data), source="test", config=config, now=at)
            nos.append(no)
    return nos


class Harness:
    def __init__(self, db, config, clock):
        self.db, self.config, self.clock = db, config, clock
        # the sandbox stands in for the staff's chat here (outside the demo there is no sandbox channel)
        self.runner = RulesRunner(db, config, clock, addresses=Addresses({"sandbox"}))
        self.pipeline = InboundPipeline(
            db, Dispatcher(db, None, config, clock, addresses=Addresses({"sandbox"})), clock
        )
        self.n = 0

    async def evaluate(self, **kw):
        return await self.runner.evaluate(**kw)

    async def click(self, who: str, key: str) -> str:
        self.n += 1
        origin = Origin("sandbox", who, None, reply_channel="sandbox", reply_to=f"user:{who}")
        return (await self.pipeline.process(CardAction(origin, key, f"c{self.n}", self.clock()))).reply.text

    async def outbox(self, destination: str | None = None) -> list[dict]:
        async with self.db.read() as s:
            q = select(OutboxMessage.destination, OutboxMessage.payload).order_by(OutboxMessage.id)
            if destination:
                q = q.where(OutboxMessage.destination == destination)
            return [{"to": d, **p} for d, p in (await s.execute(q)).all()]

    async def alerts(self, rule: str) -> list[Alert]:
        async with self.db.read() as s:
            return list((await s.execute(select(Alert).where(Alert.rule == rule).order_by(Alert.id))).scalars())


@pytest.fixture
def h(world, config):
    return Harness(world, config, ManualClock(NOW))


def _keys(message: dict) -> list[str]:
    return [b["key"] for b in (message.get("card") or {}).get("buttons", [])]


@pytest.mark.slow
async def test_cancel_rate_fires_freezes_dedupes_reminds_is_vetoed_and_resolves(h, config):
    today = NOW - timedelta(hours=2)
    shop = await _orders(h.db, config, 40, prefix="SO26031000", at=today)
    small = await _orders(h.db, config, 10, prefix="TT26031000", at=today, channel="tiktok")
    async with h.db.write() as s:  # 2/40 = 5% on shopify; 5/10 on tiktok is a small denominator
        await s.execute(
            update(Order)
            .where(Order.order_no.in_(shop[:2] + small[:5]))
            .values(status="cancelled", cancel_reason="价格太高")
        )

    out = await h.evaluate()
    [alert] = await h.alerts("cancel_rate")
    assert (alert.subject, alert.state, alert.action_state) == ("shopify", "firing", "done")
    assert alert.value == pytest.approx(0.05)
    async with h.db.read() as s:
        assert (await s.get(Channel, "shopify")).frozen is True
        assert (await s.get(Channel, "tiktok")).frozen is False
    [card] = await h.outbox("group:management")
    assert "5.0%" in card["card"]["title"] and "已自动执行：冻结渠道新订单" in card["text"]
    assert f"alert_undo:{alert.id}" in _keys(card) and f"alert_ack:{alert.id}" in _keys(card)
    assert [line["subject"] for line in outcome_lines(out)] == ["shopify"]

    await h.evaluate()  # same condition: one alert, no second card
    assert len(await h.alerts("cancel_rate")) == 1 and len(await h.outbox("group:management")) == 1

    h.clock.advance(minutes=241)  # past the repeat interval: a reminder
    await h.evaluate()
    cards = await h.outbox("group:management")
    assert len(cards) == 2 and "提醒" in cards[1]["card"]["title"]

    refused = await h.click("wanglei", f"alert_undo:{alert.id}")  # sales may not veto a channel freeze
    assert "不能操作" in refused
    answer = await h.click("heping", f"alert_undo:{alert.id}")
    assert "已解冻渠道" in answer
    async with h.db.read() as s:
        assert (await s.get(Channel, "shopify")).frozen is False
        audit = (
            await s.execute(
                select(AuditEntry.action, AuditEntry.actor).where(
                    AuditEntry.action.in_(("undo.freeze_channel", "action.alert_undo"))
                )
            )
        ).all()
        assert sorted(audit) == [("action.alert_undo", "heping"), ("undo.freeze_channel", "heping")]
    [alert] = await h.alerts("cancel_rate")
    assert (alert.state, alert.action_state, alert.action_by) == ("acknowledged", "undone", "heping")
    assert "撤销过了" in await h.click("heping", f"alert_undo:{alert.id}")

    h.clock.advance(minutes=241)  # acknowledged: no more reminders
    await h.evaluate()
    assert len(await h.outbox("group:management")) == 2

    h.clock.advance(days=1)  # a new day: the rate is measured afresh and the alert resolves
    await h.evaluate()
    [alert] = await h.alerts("cancel_rate")
    assert alert.state == "resolved" and alert.active_key is None and "回落" in alert.resolve_note
    assert "已恢复" in (await h.outbox("group:management"))[-1]["text"]


async def test_a_silence_holds_the_card_until_it_ends(h, config):
    await _orders(h.db, config, 30, prefix="SO26031001", at=NOW - timedelta(hours=1))
    async with h.db.write() as s:
        await s.execute(
            update(Order).where(Order.order_no.like("SO26031001%"), Order.id % 3 == 0).values(status="cancelled")
        )
        await silences.mute(s, "cancel_rate", 60, actor="heping", now=NOW)
    [out] = await h.evaluate(only={"cancel_rate"})
    assert out.outcome == "silenced" and await h.outbox("group:management") == []
    [alert] = await h.alerts("cancel_rate")
    assert alert.state == "firing" and alert.notify_count == 0
    h.clock.advance(minutes=61)
    await h.evaluate(only={"cancel_rate"})
    assert len(await h.outbox("group:management")) == 1


async def test_returns_not_received_opens_an_audit_task_and_undo_cancels_it(h, config):
    nos = await _orders(h.db, config, 9, prefix="SO26030100", at=NOW - timedelta(days=9))
    async with h.db.write() as s:
        await s.execute(
            update(Order)
            .where(Order.order_no.in_(nos[:8]))
            .values(status="return_requested", stage="last_mile", return_requested_at=NOW - timedelta(hours=50))
        )
        await s.execute(
            update(Order)
            .where(Order.order_no == nos[8])
            .values(status="return_requested", stage="last_mile", return_requested_at=NOW - timedelta(hours=10))
        )
    await h.evaluate(only={"returns_not_received"})
    assert await h.alerts("returns_not_received") == []  # 8 is not more than 8; the fresh one does not count

    h.clock.advance(hours=40)
    await h.evaluate(only={"returns_not_received"})
    [alert] = await h.alerts("returns_not_received")
    assert alert.value == 9 and alert.action["assignee"] == "wujun"
    async with h.db.read() as s:
        task = (await s.execute(select(Task).where(Task.type == "returns_audit"))).scalar_one()
        assert (task.state, task.assignee) == ("open", "wujun") and "逆向物流稽查" in task.subject
    [card] = await h.outbox()  # no group receives this rule: its owners get it directly
    assert card["to"] == "user:wujun"
    assert "已撤销稽查工单" in await h.click("wujun", f"alert_undo:{alert.id}")
    async with h.db.read() as s:
        assert (await s.execute(select(Task.state).where(Task.type == "returns_audit"))).scalar_one() == "cancelled"


async def test_repeat_orders_tags_the_customer_with_a_transparent_score(h, config):
    at = NOW - timedelta(hours=20)
    await _orders(h.db, config, 2, prefix="SO26030901", at=at, customer="C0100")
    await _orders(h.db, config, 1, prefix="SO26030902", at=at, customer="C0100", urgency="urgent")
    await _orders(h.db, config, 2, prefix="SO26030903", at=at, customer="C0200")  # twice is not "more than twice"
    await h.evaluate(only={"repeat_orders"})
    [alert] = await h.alerts("repeat_orders")
    assert alert.subject == "C0100" and alert.value == 2  # frequency 1 + urgency 1 + quantity 0
    facts = dict(tuple(f) for f in alert.detail["facts"])
    assert facts["评分"] == "2 = 频次 1 + 加急 1 + 数量变化 0" and "1 单加急" in facts["加急"]
    async with h.db.read() as s:
        assert (await s.get(Customer, "C0100")).tags == ["急单试探"]
        assert (await s.get(Customer, "C0200")).tags == []
    sent = {m["to"] for m in await h.outbox()}
    assert sent == {"group:management", "user:sunli"}  # the sales director is told directly too
    assert "去掉" in await h.click("sunli", f"alert_undo:{alert.id}")
    async with h.db.read() as s:
        assert (await s.get(Customer, "C0100")).tags == []


async def _in_customs(db, nos, *, hours, state="processing"):
    async with db.write() as s:
        await s.execute(
            update(Order)
            .where(Order.order_no.in_(nos))
            .values(status="shipped", stage="customs", customs_state=state, customs_in_at=NOW - timedelta(hours=hours))
        )


async def test_customs_stuck_marks_the_order_and_the_card_buttons_work(h, config):
    [slow] = await _orders(h.db, config, 1, prefix="SO26030301", at=NOW - timedelta(days=7))
    [fresh] = await _orders(h.db, config, 1, prefix="SO26030302", at=NOW - timedelta(days=7))
    await _in_customs(h.db, [slow], hours=49)
    await _in_customs(h.db, [fresh], hours=3)
    await h.evaluate(only={"customs_stuck"})
    [alert] = await h.alerts("customs_stuck")
    assert alert.subject == slow and alert.action["previous"] == "processing"
    async with h.db.read() as s:
        assert (await s.execute(select(Order.customs_state).where(Order.order_no == slow))).scalar_one() == "stuck"
        assert (
            await s.execute(select(func.count()).select_from(Task).where(Task.type == "customs_stuck"))
        ).scalar_one() == 1
    [card] = await h.outbox("group:customs")
    assert _keys(card)[:3] == [
        f"customs_claim:{alert.id}",
        f"customs_docs_sent:{alert.id}",
        f"customs_release:{alert.id}",
    ]
    assert "认领" in await h.click("chenjing", f"customs_claim:{alert.id}")
    async with h.db.read() as s:
        assert (await s.execute(select(Task.assignee).where(Task.type == "customs_stuck"))).scalar_one() == "chenjing"
    assert "已放行" in await h.click("chenjing", f"customs_release:{alert.id}")
    [alert] = await h.alerts("customs_stuck")
    assert alert.state == "resolved"
    await h.evaluate(only={"customs_stuck"})
    assert len(await h.alerts("customs_stuck")) == 1  # released: nothing fires again

    await _in_customs(h.db, [fresh], hours=3, state="info_required")  # asked for documents: at once
    await h.evaluate(only={"customs_stuck"})
    newest = (await h.alerts("customs_stuck"))[-1]
    assert newest.subject == fresh and newest.state == "firing"
    assert "恢复正常" in await h.click("chenjing", f"alert_undo:{newest.id}")
    async with h.db.read() as s:
        assert (
            await s.execute(select(Order.customs_state).where(Order.order_no == fresh))
        ).scalar_one() == "info_required"


async def test_several_alerts_for_one_chat_become_one_digest(h, config):
    nos = await _orders(h.db, config, 3, prefix="SO26030401", at=NOW - timedelta(days=7))
    await _in_customs(h.db, nos, hours=60)
    await h.evaluate(only={"customs_stuck"})
    [digest] = await h.outbox("group:customs")
    assert "3 条告警" in digest["card"]["title"]
    assert _keys(digest)[-1] == f"alert_ack_all:customs_stuck:{int(NOW.timestamp())}"  # not thousands of ids
    assert all(f"#{a.id}" in digest["text"] for a in await h.alerts("customs_stuck"))
    assert "不能操作" in await h.click("heping", _keys(digest)[-1])  # channel ops own no customs alert
    assert "已确认 3 条卡关告警" in await h.click("chenjing", _keys(digest)[-1])
    assert {a.state for a in await h.alerts("customs_stuck")} == {"acknowledged"}


async def test_customs_docs_reminds_until_marked_done(h, config):
    [no] = await _orders(
        h.db, config, 1, prefix="SO26031002", at=NOW - timedelta(hours=5), lines=[{"sku": "EB-TWS-WHT", "qty": 1}]
    )
    async with h.db.read() as s:
        assert (await s.execute(select(Order.customs_grade).where(Order.order_no == no))).scalar_one() in "BC"
    await h.evaluate(only={"customs_docs"})
    [alert] = await h.alerts("customs_docs")
    [card] = await h.outbox("group:customs")
    assert _keys(card)[0] == f"docs_done:{alert.id}"
    h.clock.advance(minutes=241)
    await h.evaluate(only={"customs_docs"})
    assert len(await h.outbox("group:customs")) == 2
    assert "已补齐" in await h.click("chenjing", f"docs_done:{alert.id}")
    async with h.db.read() as s:
        assert (await s.execute(select(Task.state).where(Task.key == f"customs_docs:{no}"))).scalar_one() == "done"
    h.clock.advance(minutes=241)
    await h.evaluate(only={"customs_docs"})
    assert len(await h.outbox("group:customs")) == 2 and (await h.alerts("customs_docs"))[0].state == "resolved"
    await _orders(
        h.db, config, 1, prefix="SO26031003", at=h.clock() - timedelta(hours=1), lines=[{"sku": "EB-TWS-WHT", "qty": 1}]
    )  # within the team's turnaround (grace_hours = 4)
    await h.evaluate(only={"customs_docs"})
    assert len(await h.alerts("customs_docs")) == 1


async def test_eta_risk_tells_the_sales_owner_with_the_cause_and_resolves(h, config):
    [no] = await _orders(h.db, config, 1, prefix="SO26030501", at=NOW - timedelta(days=3), sales_owner="wanglei")
    async with h.db.write() as s:
        await s.execute(
            update(Order)
            .where(Order.order_no == no)
            .values(status="shipped", stage="last_mile", expected_delivery=date(2026, 3, 20), eta_cause="美西港口拥堵")
        )
    await h.runner.hook("tracking")
    await h.runner.idle()
    [alert] = await h.alerts("eta_risk")
    [card] = await h.outbox("user:wanglei")
    assert "美西港口拥堵" in card["text"] and "晚于承诺" in card["text"]
    async with h.db.read() as s:
        triggers = set(
            (await s.execute(select(RuleEvaluation.rule).where(RuleEvaluation.trigger == "event"))).scalars()
        )
    assert triggers == {"customs_stuck", "eta_risk"}
    async with h.db.write() as s:
        await s.execute(update(Order).where(Order.order_no == no).values(expected_delivery=date(2026, 3, 5)))
    await h.evaluate(only={"eta_risk"})
    assert (await h.alerts("eta_risk"))[0].state == "resolved"
    assert "已恢复" in (await h.outbox("user:wanglei"))[-1]["text"]


async def test_dry_run_acts_on_nothing(h, config):
    nos = await _orders(h.db, config, 40, prefix="SO26031003", at=NOW - timedelta(hours=1))
    async with h.db.write() as s:
        await s.execute(update(Order).where(Order.order_no.in_(nos[:5])).values(status="cancelled"))
    out = await h.evaluate(dry_run=True)
    lines = outcome_lines(out)
    assert [(x["rule"], x["subject"]) for x in lines] == [("cancel_rate", "shopify")]
    assert next(o for o in out if o.rule == "cancel_rate").outcome == "dry_run:fired"
    async with h.db.read() as s:
        assert (await s.get(Channel, "shopify")).frozen is False
        assert (await s.execute(select(func.count()).select_from(Alert))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(RuleEvaluation))).scalar_one() == 0
    assert await h.outbox() == []


async def test_suggest_mode_waits_for_a_click(world):
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        '[rules.cancel_rate]\nthreshold = 0.035\nmin_volume = 30\nmode = "auto"',
        '[rules.cancel_rate]\nthreshold = 0.035\nmin_volume = 30\nmode = "suggest"',
    )
    config = parse_config(text, "suggest.toml")
    assert config.rules["cancel_rate"].mode == "suggest"
    h = Harness(world, config, ManualClock(NOW))
    nos = await _orders(h.db, config, 30, prefix="SO26031004", at=NOW - timedelta(hours=1))
    async with h.db.write() as s:
        await s.execute(update(Order).where(Order.order_no.in_(nos[:3])).values(status="cancelled"))
    await h.evaluate(only={"cancel_rate"})
    [alert] = await h.alerts("cancel_rate")
    async with h.db.read() as s:
        assert (await s.get(Channel, "shopify")).frozen is False
    [card] = await h.outbox("group:management")
    assert f"alert_apply:{alert.id}" in _keys(card) and "建议动作" in card["text"]
    assert "已执行" in await h.click("heping", f"alert_apply:{alert.id}")
    async with h.db.read() as s:
        assert (await s.get(Channel, "shopify")).frozen is True
    assert "已解冻" in await h.click("heping", f"alert_undo:{alert.id}")


@pytest.mark.slow
async def test_an_order_webhook_makes_the_documents_reminder_appear(world, config):
    """Through the running app: a grade-B order arrives, the rules hook runs, the customs group gets a card."""
    import json as _json

    from aiohttp.test_utils import TestClient, TestServer

    from orderbot.app import create_app
    from orderbot.settings import load_settings
    from orderbot.webhooks.common import RULES

    from tests.helpers import no_reply
    from tests.e2e.test_webhooks_orders import sign_hex

    clock = ManualClock(NOW)
    settings = load_settings(env_file=None, ORDERBOT_INGEST_SECRET="ingest-test-secret")
    app = create_app(settings, config=config, db=world, clock=clock, handler=no_reply, run_worker=False)
    body = _json.dumps(
        order_json("SO26031099", lines=[{"sku": "EB-TWS-WHT", "qty": 1}], created_at=NOW.isoformat())
    ).encode()
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/webhooks/orders", data=body, headers={"X-Orderbot-Signature": sign_hex(body)})
        assert resp.status == 200
        await app[RULES].idle()
        h = Harness(world, config, clock)
        assert await h.alerts("customs_docs") == []  # the team has its turnaround (grace_hours) first
        clock.advance(hours=4, minutes=1)
        await app[RULES].evaluate()  # the scheduler's next run
    [alert] = await h.alerts("customs_docs")
    assert alert.subject == "SO26031099"
    [card] = await h.outbox("group:customs")
    assert card["card"]["buttons"][0]["key"] == f"docs_done:{alert.id}"


async def test_alert_list_shows_what_this_person_may_act_on(h, config):
    from orderbot.messaging.inbound import ChatMessage

    nos = await _orders(h.db, config, 2, prefix="SO26030601", at=NOW - timedelta(days=7))
    await _in_customs(h.db, nos, hours=60)
    await h.evaluate(only={"customs_stuck"})

    async def ask(who):
        h.n += 1
        origin = Origin("sandbox", who, None, reply_channel="sandbox", reply_to=f"user:{who}")
        return (await h.pipeline.process(ChatMessage(origin, "告警列表", f"m{h.n}", NOW))).reply

    customs = await ask("chenjing")
    assert [row[1] for row in customs.table.rows] == ["卡关", "卡关"] and "共 2 条" in customs.text
    assert customs.card.buttons[-1].key.startswith("alert_ack_all:*:")
    assert "没有需要你处理的告警" in (await ask("heping")).text  # channel ops own no customs alert


async def test_one_evaluation_sends_each_chat_one_digest_with_one_acknowledge_all(h, config):
    today = NOW - timedelta(hours=2)
    shop = await _orders(h.db, config, 40, prefix="SO26031000", at=today)
    async with h.db.write() as s:  # cancel_rate fires for shopify
        await s.execute(update(Order).where(Order.order_no.in_(shop[:2])).values(status="cancelled"))
    await _orders(h.db, config, 3, prefix="SO26030901", at=today, customer="C0100")  # a new customer: 3 in 72 h
    await h.evaluate()
    management = await h.outbox("group:management")
    assert len(management) == 1  # cancel_rate and repeat_orders both go there: one card, not two
    [digest] = management
    assert "取消率" in digest["title"] and "重复下单" in digest["title"]
    assert [k for k in _keys(digest) if k.startswith("alert_ack_all:")] == [f"alert_ack_all:*:{int(NOW.timestamp())}"]
    assert "已确认" in await h.click("sunli", _keys(digest)[-1])  # the sales director: his repeat-order alert
