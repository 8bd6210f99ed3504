"""Live delay causes over the real tracking webhook: a carrier exception or a customs hold becomes the order's
delay record (lane, carrier, cause category, contract clause), a repeat updates it, and 延迟原因TOP5 reads it;
the 17TRACK customs push keeps its alert firing until the order is released."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update

from orderbot.app import create_app
from orderbot.core.models import Alert, Carrier, CarrierClause, Delay, Order
from orderbot.core.reports.delays import claim_evidence, delay_reasons, top_delayed_customers
from orderbot.core.rules.builtins import RULES
from orderbot.core.rules.engine import evaluate_rule
from orderbot.settings import load_settings
from orderbot.webhooks.common import RULES_HOOK

from tests.e2e.test_tracking import SECRET, SO1, SO2, UPS_NO, aftership, post, seed, seventeen
from tests.helpers import no_reply

CLAUSES = (
    ("3.4", "收件信息错误与改派", "因收件地址错误导致派送失败的，承运商不承担延误责任。"),
    ("5.1", "清关延误与查验", "货物在目的国被海关查验所产生的滞留时间不计入承诺时效。"),
    ("8.2", "不可抗力与港口罢工", "因罢工（含港口及码头工人罢工）造成延误的，承运商应在48小时内书面通知。"),
    ("9.1", "延误赔付", "非不可抗力原因超出承诺时效的，每延误1日按运费的5%赔付。"),
)


@pytest.fixture
async def client(db, config, clock, snapshots):
    """A company's own data: one carrier with its clauses, orders shipped with it, no seed."""

    async def build() -> None:
        await seed(db, config, clock)
        async with db.write() as s:
            s.add(Carrier(code="YUN", name="云途物流"))
            await s.flush()
            s.add_all(CarrierClause(carrier_code="YUN", clause_no=no, title=t, text=x) for no, t, x in CLAUSES)
            await s.execute(
                update(Order)
                .where(Order.order_no.in_((SO1, SO2)))
                .values(carrier_code="YUN", promised_date=date(2026, 2, 8))
            )

    await snapshots.seed(db, "delay_causes", build)
    settings = load_settings(env_file=None, TRACKING_WEBHOOK_SECRET=SECRET, ORDERBOT_MAX_BODY_BYTES=65536)
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)

    async def quiet(topic: str) -> None:
        return None

    app[RULES_HOOK] = quiet
    async with TestClient(TestServer(app)) as c:
        yield c


async def delays(db) -> list[Delay]:
    async with db.read() as s:
        return list((await s.execute(select(Delay).order_by(Delay.id))).scalars())


async def test_aftership_port_strike_becomes_a_delay_record_and_a_repeat_updates_it(client, db):
    push = aftership(
        "Exception",
        "Exception_005",
        "2026-02-09T08:00:00+00:00",
        event_id="strike-1",
        message="Port strike at Long Beach, vessel delayed",
        tracking_number=UPS_NO,
        expected_delivery="2026-02-13",
    )
    resp = await post(client, "aftership", push)
    assert resp.status == 200, await resp.text()
    [row] = await delays(db)
    async with db.read() as s:
        order_id = (await s.execute(select(Order.id).where(Order.order_no == SO1))).scalar()
    assert (row.order_id, row.category, row.reason, row.lane, row.carrier_code, row.clause_no, row.source) == (
        order_id,
        "port_congestion",
        "港口拥堵/罢工",
        "深圳-美国",
        "YUN",
        "8.2",
        "aftership",
    )
    assert row.delay_days == 5  # carrier now expects 02-13, promised 02-08
    assert "Port strike" in row.cause

    again = aftership(
        "Exception",
        "Exception_005",
        "2026-02-09T20:00:00+00:00",
        event_id="strike-2",
        message="Port congestion after strike, backlog clearing",
        tracking_number=UPS_NO,
    )
    assert (await post(client, "aftership", again)).status == 200
    [row2] = await delays(db)  # updated, not duplicated
    assert row2.id == row.id and "backlog clearing" in row2.cause and row2.category == "port_congestion"
    assert row2.recorded_at == row.recorded_at and row2.updated_at > row.recorded_at

    async with db.read() as s:
        [top] = await delay_reasons(s, date_from=date(2026, 2, 4), date_to=date(2026, 2, 10), limit=5)
        assert (top.category, top.lane, top.orders, top.carrier_name, top.clause_no) == (
            "port_congestion",
            "深圳-美国",
            1,
            "云途物流",
            "8.2",
        )
        assert top.sentence().endswith("影响本周期1单，云途物流合同第8.2条")
        rows, clause = await claim_evidence(
            s, reason=top.reason, lane=top.lane, carrier="YUN", date_from=date(2026, 2, 4), date_to=date(2026, 2, 10)
        )
        assert [r.order_no for r in rows] == [SO1] and clause.clause_no == "8.2"
        [customer] = await top_delayed_customers(
            s, date_from=date(2026, 2, 8), date_to=date(2026, 2, 8), today=date(2026, 2, 10)
        )
        assert customer.main_reason == "港口拥堵/罢工"


async def test_ordinary_transit_push_writes_no_delay(client, db):
    push = aftership(
        "InTransit",
        "InTransit_002",
        "2026-02-09T08:00:00+00:00",
        event_id="ok-1",
        message="Accepted by carrier",
        tracking_number=UPS_NO,
    )
    assert (await post(client, "aftership", push)).status == 200
    assert await delays(db) == []


@pytest.mark.parametrize(
    "sub_status, message, category, clause",
    [
        ("DeliveryFailure_InvalidAddress", "", "address", "3.4"),
        ("Exception_Lost", "", "lost_damaged", None),  # no clause of this carrier covers it
        ("Exception_Delayed", "Severe weather: typhoon", "weather", None),
        ("Exception_Other", "", "other", None),
    ],
)
async def test_17track_sub_status_or_message_picks_the_category(client, db, sub_status, message, category, clause):
    push = seventeen(sub_status, "2026-02-09T10:00:00Z", description=message)
    assert (await post(client, "17track", push)).status == 200
    [row] = await delays(db)
    assert (row.category, row.clause_no, row.source) == (category, clause, "17track")


async def test_17track_customs_push_records_the_delay_and_its_alert_keeps_firing(client, db, config, clock):
    push = seventeen(
        "InTransit_CustomsRequiringInformation",
        "2026-02-09T10:00:00Z",
        description="Additional information is needed for clearance",
    )
    assert (await post(client, "17track", push)).status == 200
    [row] = await delays(db)
    assert (row.category, row.clause_no) == ("customs_inspection", "5.1")

    rule = RULES["customs_stuck"]
    async with db.write() as s:
        first = await evaluate_rule(s, rule, config, clock(), trigger="event")
    assert first.fired == [SO1]
    for minutes in (0, 1, 10):  # the rule's own action (卡关-人工介入) must not clear what it watches
        async with db.write() as s:
            later = await evaluate_rule(s, rule, config, clock() + timedelta(minutes=minutes), trigger="event")
        assert later.resolved == [] and not any(n.kind == "resolved" for n in later.notices)
    async with db.read() as s:
        alert = (await s.execute(select(Alert).where(Alert.rule == "customs_stuck"))).scalar_one()
        order = (await s.execute(select(Order).where(Order.order_no == SO1))).scalar_one()
    assert alert.state == "firing" and alert.title == f"{SO1} 海关要求补充资料"
    assert order.customs_state == "stuck"

    released = seventeen("InTransit_CustomsReleased", "2026-02-09T18:00:00Z")
    assert (await post(client, "17track", released)).status == 200
    async with db.write() as s:
        done = await evaluate_rule(s, rule, config, clock() + timedelta(minutes=20), trigger="event")
    assert done.resolved == [SO1]
