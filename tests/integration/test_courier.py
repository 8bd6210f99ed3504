"""The courier batch and its weather circuit breaker, on SQLite and PostgreSQL, against a fake QWeather over real
HTTP: ready orders handed through the waybill gate; a red alert pauses and tells the owners once (WeCom card
delivered to a fake WeCom, email delivered to a local SMTP server); a person's click or the end of the alert
resumes; an unreachable weather API takes the configured fail-safe, announced."""

from __future__ import annotations

import asyncio
import email
import email.policy
import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from orderbot.messaging.addresses import Addresses
from orderbot.messaging.senders.email import EmailSender
from orderbot.messaging.senders.sandbox import SandboxSender
from orderbot.messaging.worker import OutboxWorker
from orderbot.bot.dispatch import Dispatcher
from orderbot.bot.handlers.courier import run_courier_batch
from orderbot.messaging.inbound import CardAction, Origin
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.config import parse_config
from orderbot.core.courier import WeatherReport, WeatherUnavailable
from orderbot.core.models import AuditEntry, Breaker, CourierRun, Order, OrderEvent, OutboxMessage
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.core.staff import sync_staff
from orderbot.core.warehouse.labels import label_text
from orderbot.core.warehouse.scanning import scan_package
from orderbot.adapters.weather import QWeatherClient, parse_alerts

from tests.conftest import EXAMPLE_CONFIG
from tests.fakes.qweather import ATTRIBUTIONS, FakeQWeather
from tests.helpers import add_products, order_json

SECRET = "label-secret"
SZ, YW = (22.54, 114.06), (29.31, 120.08)  # 深圳, 义乌 in the example config
READY, PARTIAL, UNSCANNED, YIWU = "SO202602100001", "SO202602100002", "SO202602100003", "SO202602100004"


@pytest.fixture
async def qweather():
    fake = FakeQWeather()
    server = TestServer(fake.app())
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        base = str(server.make_url("")).rstrip("/")

        def client(key: str = fake.key, timeout: float = 0.4) -> QWeatherClient:
            return QWeatherClient(http, base=base, api_key=key, timeout=timeout)

        yield fake, client
    await server.close()


@pytest.fixture
async def shop(db, config, clock, snapshots):
    """Four orders: 0001 (深圳) fully scanned, 0002 (深圳) one of two packages scanned, 0003 (深圳) not scanned
    at all, 0004 (义乌) fully scanned."""

    async def build() -> None:
        now = clock()
        async with db.write() as s:
            await sync_staff(s, config)
            await add_products(s, config, stock=50, at=now)
            for no, origin, lines in (
                (READY, "深圳", [{"sku": "CASE-IP15-CLR", "qty": 1}]),
                (PARTIAL, "深圳", [{"sku": "PB-20K-BLK", "qty": 1}, {"sku": "CASE-IP15-CLR", "qty": 1}]),
                (UNSCANNED, "深圳", [{"sku": "CASE-IP15-CLR", "qty": 1}]),
                (YIWU, "义乌", [{"sku": "EB-TWS-WHT", "qty": 1}]),
            ):
                await ingest_order(
                    s, parse_order(order_json(no, origin=origin, lines=lines)), source="test", config=config, now=now
                )
        async with db.write() as s:
            for no, sku, k in ((READY, "CASE-IP15-CLR", 1), (PARTIAL, "PB-20K-BLK", 1), (YIWU, "EB-TWS-WHT", 1)):
                result = await scan_package(
                    s,
                    raw=label_text(SECRET, no, sku, "B260201", k),
                    staff_id="zhangsan",
                    platform_user="ZhangSan",
                    station="pack-1",
                    now=now,
                    config=config,
                    secret=SECRET,
                )
                assert result.ok, result.message

    await snapshots.seed(db, "courier", build)
    return db


ADDRESSES = Addresses({"wecom", "email"})


async def batch(db, config, weather, clock, **kw):
    return {r.warehouse: r for r in await run_courier_batch(db, config, weather, clock(), addresses=ADDRESSES, **kw)}


async def order(db, no) -> Order:
    async with db.read() as s:
        return (await s.execute(select(Order).where(Order.order_no == no))).scalar_one()


async def breaker(db, name="courier:深圳") -> Breaker | None:
    async with db.read() as s:
        return await s.get(Breaker, name)


async def notices(db) -> list[OutboxMessage]:
    """Outbox rows the batch and the buttons queued (not the replies to the clicker)."""
    async with db.read() as s:
        rows = (await s.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all()
    return [r for r in rows if (r.dedupe_key or "").startswith("courier:")]


async def runs(db) -> list[CourierRun]:
    async with db.read() as s:
        return list((await s.execute(select(CourierRun).order_by(CourierRun.id))).scalars())


def click(db, config, clock):
    pipeline = InboundPipeline(db, Dispatcher(db, None, config, clock, addresses=ADDRESSES), clock)
    n = iter(range(1, 100))

    async def press(user: str, key: str):
        origin = Origin("wecom", user, None, reply_channel="wecom", reply_to=f"user:{user}")
        return (await pipeline.process(CardAction(origin, key, f"click-{next(n)}", clock()))).reply

    return press


# ---------------------------------------------------------------------------------------------------------
async def test_no_alert_hands_ready_orders_and_the_gate_refuses_unscanned(shop, config, clock, qweather):
    fake, client = qweather
    results = await batch(shop, config, client(), clock)
    sz = results["深圳"]
    assert sz.outcome == "ran" and sz.weather == "无预警" and sz.breaker == "closed"
    assert sz.handed == ((READY, "LCSO202602100001CN"),)
    (refusal,) = sz.refused
    assert refusal.order_no == PARTIAL and "包裹 2/2" in refusal.reason
    assert results["义乌"].handed == ((YIWU, "LCSO202602100004CN"),) and results["广州"].handed == ()
    handed = await order(shop, READY)
    assert (handed.tracking_no, handed.carrier_code, handed.status, handed.stage) == (
        "LCSO202602100001CN",
        "LOCAL",
        "shipped",
        "routing",
    )
    assert (await order(shop, PARTIAL)).tracking_no is None and (await order(shop, UNSCANNED)).tracking_no is None
    async with shop.read() as s:
        events = (
            (
                await s.execute(
                    select(OrderEvent.detail).where(OrderEvent.order_id == handed.id, OrderEvent.kind == "waybill")
                )
            )
            .scalars()
            .all()
        )
    assert events == ["交运本地演示快递，运单号 LCSO202602100001CN（快递交接批次，schedule）"]
    recorded = {r.detail["warehouse"]: r for r in await runs(shop)}
    assert (recorded["深圳"].outcome, recorded["深圳"].handed, recorded["深圳"].refused) == ("ran", 1, 1)
    assert recorded["深圳"].detail["refused"][PARTIAL] == refusal.reason and recorded["深圳"].weather == "无预警"
    assert await notices(shop) == []  # a normal run is quiet
    # the request: the v1 path with two-decimal coordinates, the key in X-QW-Api-Key and nowhere else
    sz_request = next(r for r in fake.requests if r["lat"] == "22.54")
    assert sz_request["lon"] == "114.06" and sz_request["key"] == fake.key
    assert sz_request["authorization"] is None and "key" not in sz_request["query"]
    # a second run hands nothing twice and refuses the half-scanned order again
    clock.advance(hours=6)
    again = (await batch(shop, config, client(), clock))["深圳"]
    assert again.handed == () and [r.order_no for r in again.refused] == [PARTIAL]


async def test_red_alert_pauses_tells_owners_once_and_a_click_resumes(shop, config, clock, qweather, wecom, smtp):
    fake, client = qweather
    inbox, smtp_url = smtp
    wecom_fake, senders, _ = wecom
    wecom_sender = senders["wecom"]
    red = fake.alert(*SZ, color="red", event="暴雪")
    first = await batch(shop, config, client(), clock)
    sz = first["深圳"]
    assert (sz.outcome, sz.handed, sz.breaker, sz.notices, sz.waiting) == ("paused", (), "open", ("paused",), 2)
    assert "红色预警：深圳市气象台发布暴雪红色预警" in sz.weather
    assert first["义乌"].outcome == "ran" and first["义乌"].handed  # the other warehouse is not affected
    assert (await order(shop, READY)).tracking_no is None
    b = await breaker(shop)
    assert (b.state, b.reason, b.detail["alerts"]) == ("open", "weather", [red["id"]])
    rows = await notices(shop)
    assert {(r.channel, r.destination) for r in rows} == {
        ("wecom", "user:WuJun"),
        ("email", "email:logistics@example.com"),
        ("sandbox", "group:warehouse"),
    }
    card = rows[0].payload["card"]
    assert card["buttons"] == [{"text": "恢复发运", "key": "courier_resume:深圳", "style": 1}]
    assert ["等待发运", "2 单"] in card["fields"] and ["颜色", "红色"] in card["fields"]
    assert ATTRIBUTIONS[0] in rows[0].payload["text"] and ATTRIBUTIONS[1] in rows[0].payload["text"]
    # the outbox worker delivers: the card to the owner on (fake) WeCom, the email to the (local) SMTP server
    sandbox = SandboxSender(clock)
    worker = OutboxWorker(
        shop,
        {"wecom": wecom_sender, "email": EmailSender(smtp_url, sender="bot@shop.example"), "sandbox": sandbox},
        clock,
        seed=1,
    )
    assert await worker.run_once() == 4  # and the 义乌 order's customer, now that it has a tracking number
    text, sent = wecom_fake.messages  # the whole notice, then the card with its button (cards keep content)
    assert text["touser"] == "WuJun" and text["msgtype"] == "markdown" and "暴雪" in text["markdown"]["content"]
    assert sent["touser"] == "WuJun" and sent["msgtype"] == "template_card"
    assert sent["template_card"]["button_list"][0]["key"] == "courier_resume:深圳"
    await asyncio.sleep(0.05)
    ((rcpts, content),) = [m for m in inbox.messages if m[0] == ["logistics@example.com"]]
    mail = email.message_from_string(content, policy=email.policy.default)
    body = mail.get_content()
    assert rcpts == ["logistics@example.com"] and "深圳仓发运已暂停" in str(mail["Subject"])
    assert "暴雪" in body and "2 单" in body and ATTRIBUTIONS[0] in body
    assert "发运已暂停" in sandbox.for_destination("group:warehouse")[0]["payload"]["title"]

    clock.advance(hours=6)  # the next run: still red, still paused, nobody told again
    second = (await batch(shop, config, client(), clock))["深圳"]
    assert (second.outcome, second.handed, second.notices) == ("paused", (), ())
    assert len(await notices(shop)) == 3
    assert [r.outcome for r in await runs(shop) if r.detail["warehouse"] == "深圳"] == ["paused", "paused"]

    press = click(shop, config, clock)
    refused = await press("ZhangSan", "courier_resume:深圳")  # a packer may not overrule the breaker
    assert "物流或管理" in refused.text and (await breaker(shop)).state == "open"
    reply = await press("WuJun", "courier_resume:深圳")
    assert reply.text.startswith("已恢复深圳仓的发运")
    b = await breaker(shop)
    assert (b.state, b.closed_by, b.closed_at) == ("closed", "wujun", clock())
    assert b.detail["overridden"] == [red["id"]]
    async with shop.read() as s:
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.action == "action.courier_resume"))).scalar_one()
    assert (audit.actor, audit.subject) == ("wujun", "courier:深圳") and "暴雪" in audit.detail
    announced = [r for r in await notices(shop) if r.dedupe_key.startswith("courier:resumed:")]
    assert {r.destination for r in announced} == {"user:WuJun", "email:logistics@example.com", "group:warehouse"}
    assert (
        "吴军" in announced[0].payload["text"]
        and announced[0].payload["card"]["buttons"][0]["key"] == "courier_hold:深圳"
    )
    assert (await press("WuJun", "courier_resume:深圳")).text.startswith("深圳仓的发运没有暂停")

    clock.advance(hours=6)  # the same red alert is still on: the person's decision stands, the batch hands
    third = (await batch(shop, config, client(), clock))["深圳"]
    assert (third.outcome, third.handed, third.breaker) == ("ran", ((READY, "LCSO202602100001CN"),), "closed")
    assert (await order(shop, READY)).tracking_no == "LCSO202602100001CN"
    last = [r for r in await runs(shop) if r.detail["warehouse"] == "深圳"][-1]
    assert (last.outcome, last.handed) == ("ran", 1) and "吴军" not in last.detail["override"]
    assert "wujun 已人工放行" in last.detail["override"]


async def test_alert_ending_closes_the_breaker_by_itself_and_says_so(shop, config, clock, qweather):
    fake, client = qweather
    red = fake.alert(*SZ, color="red", event="台风")
    assert (await batch(shop, config, client(), clock))["深圳"].outcome == "paused"
    fake.cancel(*SZ, red)  # the authority's cancel message supersedes the alert
    clock.advance(hours=6)
    sz = (await batch(shop, config, client(), clock))["深圳"]
    assert (sz.outcome, sz.breaker, sz.notices) == ("ran", "closed", ("resumed",))
    assert sz.handed == ((READY, "LCSO202602100001CN"),)
    b = await breaker(shop)
    assert (b.state, b.closed_by, b.closed_at) == ("closed", "courier_batch", clock())
    resumed = [r for r in await notices(shop) if ":resumed" in r.dedupe_key]
    assert {r.destination for r in resumed} == {"user:WuJun", "email:logistics@example.com", "group:warehouse"}
    assert "预警已解除" in resumed[0].payload["title"] and "台风" in resumed[0].payload["text"]
    assert resumed[0].payload["card"]["buttons"][0]["key"] == "courier_hold:深圳"
    # a new alert of a colour that is not in pause_colors only gets recorded
    fake.clear(*SZ)
    fake.alert(*SZ, color="orange", event="大风")
    clock.advance(hours=6)
    orange = (await batch(shop, config, client(), clock))["深圳"]
    assert orange.outcome == "ran" and orange.weather.startswith("橙色预警") and orange.notices == ()


async def test_alert_gone_without_cancel_message_also_resumes(shop, config, clock, qweather):
    fake, client = qweather
    fake.alert(*SZ, color="red")
    await batch(shop, config, client(), clock)
    fake.clear(*SZ)  # the alert expired: zeroResult
    clock.advance(hours=6)
    sz = (await batch(shop, config, client(), clock))["深圳"]
    assert (sz.outcome, sz.notices, sz.weather) == ("ran", ("resumed",), "无预警")
    assert (await breaker(shop)).state == "closed"


@pytest.mark.parametrize("failure", ["error", "hang", "wrong_key", "garbage"])
async def test_weather_api_down_pauses_by_the_fail_safe_and_says_so(shop, config, clock, qweather, failure):
    fake, client = qweather
    weather = client(key="not-the-key") if failure == "wrong_key" else client()
    fake.mode = {"wrong_key": "ok"}.get(failure, failure)
    fake.hang_seconds = 1.0
    results = await batch(shop, config, weather, clock)
    sz = results["深圳"]
    assert (sz.outcome, sz.handed, sz.breaker, sz.notices) == ("failsafe", (), "closed", ("failsafe",))
    reason = {"error": "HTTP 500", "hang": "超时", "wrong_key": "401", "garbage": "不是 JSON"}[failure]
    assert reason in sz.weather
    assert (await order(shop, READY)).tracking_no is None
    rows = [r for r in await notices(shop) if r.payload["meta"]["subject"] == "深圳"]
    assert {r.destination for r in rows} == {"user:WuJun", "email:logistics@example.com", "group:warehouse"}
    assert "按预案暂停" in rows[0].payload["title"] + rows[0].payload["text"] and reason in rows[0].payload["text"]
    recorded = [r for r in await runs(shop) if r.detail["warehouse"] == "深圳"]
    assert recorded[0].outcome == "failsafe" and recorded[0].detail["fail_safe"] == "pause"
    if failure == "wrong_key":
        assert fake.requests[0]["key"] == "not-the-key"
    fake.mode = "ok"  # once the API answers again, the next run ships
    clock.advance(hours=6)
    assert (await batch(shop, config, client(), clock))["深圳"].handed == ((READY, "LCSO202602100001CN"),)


async def test_weather_api_down_runs_by_the_fail_safe_and_says_so(shop, clock, qweather):
    fake, client = qweather
    config = parse_config(
        EXAMPLE_CONFIG.read_text(encoding="utf-8").replace('fail_safe = "pause"', 'fail_safe = "run"')
    )
    fake.mode = "error"
    sz = (await batch(shop, config, client(), clock))["深圳"]
    assert (sz.outcome, sz.handed, sz.notices) == ("failsafe", ((READY, "LCSO202602100001CN"),), ("failsafe",))
    (row,) = [
        r for r in await notices(shop) if r.destination == "user:WuJun" and r.payload["meta"]["subject"] == "深圳"
    ]
    assert "按预案照常发运" in row.payload["title"] and "交运 1 单" in row.payload["text"]
    assert row.payload["card"]["buttons"][0]["key"] == "courier_hold:深圳"
    assert [r.detail["fail_safe"] for r in await runs(shop)] == ["run", "run", "run"]


async def test_no_api_key_takes_the_fail_safe_and_says_so(shop, config, clock):
    results = await batch(shop, config, None, clock)
    assert {r.outcome for r in results.values()} == {"failsafe"}
    assert all("QWEATHER_API_KEY" in r.weather for r in results.values())
    assert len([r for r in await notices(shop) if r.destination == "user:WuJun"]) == 3  # one per warehouse


async def test_a_person_holds_and_only_a_person_resumes(shop, config, clock, qweather):
    fake, client = qweather
    press = click(shop, config, clock)
    reply = await press("WuJun", "courier_hold:深圳")
    assert reply.text.startswith("已暂停深圳仓的发运")
    assert "已经暂停" in (await press("WuJun", "courier_hold:深圳")).text
    assert "没有这个发货仓" in (await press("WuJun", "courier_hold:火星")).text
    b = await breaker(shop)
    assert (b.state, b.reason, b.detail["opened_by"]) == ("open", "manual", "wujun")
    sz = (await batch(shop, config, client(), clock))["深圳"]  # no alert, but a person said stop
    assert (sz.outcome, sz.handed, sz.notices) == ("paused", (), ())
    await press("WuJun", "courier_resume:深圳")
    clock.advance(hours=1)
    assert (await batch(shop, config, client(), clock))["深圳"].handed == ((READY, "LCSO202602100001CN"),)


# ---------------------------------------------------------------------------------------------------------
# The adapter's parsing, without a server.
# ---------------------------------------------------------------------------------------------------------
def test_updates_and_cancels_supersede_earlier_alerts():
    fake = FakeQWeather()
    first = fake.alert(*SZ, color="orange", event="暴雨")
    update = fake.alert(*SZ, color="red", event="暴雨", code="update", supersedes=(first["id"],))
    other = fake.alert(*SZ, color="yellow", event="大雾")
    report = parse_alerts(
        {"metadata": {"zeroResult": False, "attributions": ATTRIBUTIONS}, "alerts": fake.alerts[("22.54", "114.06")]}
    )
    assert [a.id for a in report.active()] == [update["id"], other["id"]]
    red = report.active()[0]
    assert (red.color, red.severity, red.message_type, red.color_name) == ("red", "extreme", "update", "红色")
    assert red.supersedes == (first["id"],) and red.expires == "2026-02-11T08:30+08:00"
    cancel = fake.cancel(*SZ, update)
    lifted = parse_alerts({"metadata": {"zeroResult": False}, "alerts": [cancel]})
    assert lifted.active() == () and lifted.alerts[0].message_type == "cancel"
    assert parse_alerts({"metadata": {"zeroResult": True, "attributions": ATTRIBUTIONS}}) == WeatherReport(
        (), tuple(ATTRIBUTIONS)
    )


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"alerts": []},
        {"metadata": {"zeroResult": False}},
        {"metadata": {"zeroResult": False}, "alerts": [{"color": {"code": "red"}}]},
        {"metadata": {"zeroResult": False}, "alerts": ["red"]},
    ],
)
def test_a_malformed_answer_is_unavailable_not_quiet(body):
    with pytest.raises(WeatherUnavailable):
        parse_alerts(body)


async def test_client_reports_a_refused_connection_as_unavailable():
    async with aiohttp.ClientSession() as http:
        client = QWeatherClient(http, base="http://127.0.0.1:9", api_key="secret-key-123", timeout=2)
        with pytest.raises(WeatherUnavailable, match="连不上"):
            await client.alerts(*SZ)
    assert "secret-key-123" not in repr(client)


def test_client_from_settings_only_with_a_key():
    from orderbot.settings import load_settings
    from orderbot.adapters.weather import from_settings

    assert from_settings(load_settings(env_file=None, QWEATHER_API_KEY=None), http=None) is None
    client = from_settings(
        load_settings(env_file=None, QWEATHER_API_KEY="qw-key", QWEATHER_API_BASE="http://qw.local/"), http=None
    )
    assert client.base == "http://qw.local" and "qw-key" not in repr(client)


class RefusingCarrier:
    """A carrier that issues no waybill (e.g. its API rejected the address)."""

    code, name = "LOCAL", "本地演示快递"

    async def waybill(self, order, packages: int) -> str:
        from orderbot.core.courier import CarrierRefused

        raise CarrierRefused("承运商拒绝：收件地址无法识别")


async def customer_messages(db) -> list[OutboxMessage]:
    async with db.read() as s:
        return list(
            (
                await s.execute(
                    select(OutboxMessage).where(OutboxMessage.dedupe_key.like("ship:%")).order_by(OutboxMessage.id)
                )
            ).scalars()
        )


async def test_the_customer_message_waits_for_the_waybill_and_goes_once(shop, config, clock, qweather):
    assert await customer_messages(shop) == []  # scanned without a waybill: nothing said yet
    fake, client = qweather
    await run_courier_batch(shop, config, client(), clock(), addresses=Addresses({"wechat_mp", "email"}))
    sent = {m.dedupe_key: m for m in await customer_messages(shop)}
    assert set(sent) == {f"ship:{READY}", f"ship:{YIWU}"}  # the half-scanned and unscanned orders wait
    ready = sent[f"ship:{READY}"]
    assert (ready.channel, ready.destination, ready.kind) == ("wechat_mp", "openid:o-abc", "customer")
    assert ready.payload["text"] == "已发出|单号:LCSO202602100001CN|本地演示快递"
    assert ready.payload["fields"] == {
        "order_no": READY,
        "shipped_at": "2026-02-10 09:00",
        "product": "iPhone 15 手机壳 透明",
        "carrier": "本地演示快递",
        "tracking_no": "LCSO202602100001CN",
    }
    assert all(ready.payload["fields"].values())  # every 服务号 template field filled
    clock.advance(hours=6)
    await run_courier_batch(shop, config, client(), clock(), addresses=Addresses({"wechat_mp", "email"}))
    assert len(await customer_messages(shop)) == 2  # once


async def test_a_scan_with_a_waybill_tells_the_customer_at_once_and_the_batch_not_again(shop, config, clock, qweather):
    from orderbot.core.models import Carrier, Communication
    from orderbot.core.warehouse.scanning import scan_package

    async with shop.write() as s:
        s.add(Carrier(code="YUN", name="云途物流"))
        await s.flush()
        o = (await s.execute(select(Order).where(Order.order_no == PARTIAL))).scalar_one()
        o.tracking_no, o.carrier_code = "YT123456789CN", "YUN"
    async with shop.write() as s:
        result = await scan_package(
            s,
            raw=label_text(SECRET, PARTIAL, "CASE-IP15-CLR", "B260201", 2),
            staff_id="zhangsan",
            platform_user="ZhangSan",
            station="pack-1",
            now=clock(),
            config=config,
            secret=SECRET,
        )
    assert result.ok and "整单已发出，已通知客户" in result.message
    assert result.customer.text == "已发出|单号:YT123456789CN|云途物流"
    assert result.customer.fields["carrier"] == "云途物流" and all(result.customer.fields.values())
    async with shop.read() as s:
        said = (await s.execute(select(Communication.summary).where(Communication.order_id == o.id))).scalars().all()
    assert said == ["发货通知：已发出|单号:YT123456789CN|云途物流"]
    fake, client = qweather
    results = await batch(shop, config, client(), clock)
    assert PARTIAL not in {no for no, _ in results["深圳"].handed}  # it already had its waybill


async def test_shipped_without_a_tracking_number_after_the_batch_is_a_logistics_task(shop, config, clock, qweather):
    from orderbot.core.models import Task

    fake, client = qweather
    results = await batch(shop, config, client(), clock, carrier=RefusingCarrier())
    assert {r.order_no for r in results["深圳"].refused} == {READY, PARTIAL}
    assert await customer_messages(shop) == []
    async with shop.read() as s:
        tasks = (
            await s.execute(
                select(Task.key, Task.type, Task.subject).where(Task.type == "no_tracking").order_by(Task.key)
            )
        ).all()
    # only the orders already out of the warehouse (all packages scanned); the half-scanned one just waits
    assert [t.key for t in tasks] == [f"no_tracking:{READY}", f"no_tracking:{YIWU}"]
    assert "收件地址无法识别" in tasks[0].subject
    clock.advance(hours=6)
    await batch(shop, config, client(), clock, carrier=RefusingCarrier())
    async with shop.read() as s:
        assert len((await s.execute(select(Task.id).where(Task.type == "no_tracking"))).all()) == 2
