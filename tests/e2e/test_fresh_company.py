"""Issue 17 acceptance, a fresh company: from an empty migrated database with no seed, the company's own
catalogue and carrier clauses, stock in, orders from a file and both order webhooks, a scan that ships, the
courier batch's waybill told to the customer, tracking pushes (customs hold, port strike), questions in chat
answered from those records by role, and a channel freeze with an order held and released. The file steps call
the functions the `orderbot catalog import` / `stock receive` / `import` commands run, on the test's database.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook
from sqlalchemy import func, select

from orderbot.app import create_app
from orderbot.bot.dispatch import Dispatcher
from orderbot.messaging.inbound import CardAction, ChatMessage, Origin
from orderbot.messaging.markup import plain
from orderbot.messaging.pipeline import InboundPipeline
from orderbot.bot.handlers.courier import run_courier_batch
from orderbot.core.models import CarrierClause, Delay, Order, OutboxMessage, Product
from orderbot.core.reports.delays import delay_reasons
from orderbot.core.staff import sync_staff
from orderbot.core.warehouse.labels import label_text
from orderbot.messaging.addresses import Addresses
from orderbot.tools.catalog_import import import_catalog
from orderbot.tools.importer import import_file
from orderbot.tools.stock_import import receive_file

from tests.e2e.test_scanning import AES_KEY, CORP, TOKEN, Scanner, scanning_app
from tests.e2e.test_tracking import SECRET as TRACKING, aftership, post as post_tracking, seventeen
from tests.e2e.test_webhooks_orders import SHOPIFY, SHOPIFY_ORDER, post_order, shopify_headers
from tests.helpers import no_reply, order_json, wecom_settings
from tests.integration.test_courier import qweather  # noqa: F401  (the fake QWeather fixture)

LABELS = "fresh-label-secret"
FILE_NO, HOOK_NO = "SO202602090001", "SO202602090002"
SHOP_NO = "SO820982911946154508"
HELD_NO = "SO820982911946154599"
HELD_ORDER = {
    **copy.deepcopy(SHOPIFY_ORDER),
    "id": 820982911946154599,
    "name": "#9998",
    "line_items": [{**SHOPIFY_ORDER["line_items"][0], "sku": "FC-MUG-02"}],
}


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
async def test_a_fresh_company_from_empty_database(db, config, clock, tmp_path, qweather, static_parser):  # noqa: F811
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Product))).scalar() == 0  # no seed
    async with db.write() as s:
        await sync_staff(s, config)

    # 1. catalogue and carriers with clauses; a bad row is named by its line and nothing of it is written
    products = _write(
        tmp_path / "products.csv",
        "商品编码,品名,类目,UN编号,重量(g),成本,补货点,采购周期(天)\n"
        "FC-LAMP-01,折叠台灯,灯具,,650,35.0,20,10\n"
        "FC-MUG-02,保温杯 500ml,杯具,,380,12.5,30,7\n"
        "FC-BAD,,杯具,,,,,\n",
    )
    kind, report = await import_catalog(db, products, config=config)
    assert report.created == 2 and [f"{label}: {reason}" for label, reason in report.rejected] == [
        "第 4 行: 品名: 必填"
    ], report
    wb = Workbook()
    wb.active.append(["carrier", "carrier_name", "clause_no", "title", "text", "causes", "compensation"])
    wb.active.append(
        [
            "LOCAL",
            "本地演示快递",
            "8.2",
            "港口罢工",
            "罢工造成延误的，承运商应在48小时内书面通知。",
            "port_congestion",
            "未通知按9.1赔付",
        ]
    )
    wb.active.append(
        ["LOCAL", "本地演示快递", "5.1", "清关查验", "海关查验的滞留时间不计入承诺时效。", "customs_inspection", ""]
    )
    carriers = tmp_path / "carriers.xlsx"
    wb.save(carriers)
    kind, report = await import_catalog(db, carriers, config=config)
    assert report.created == 2 and not report.rejected, report
    async with db.read() as s:
        assert set((await s.execute(select(Product.sku))).scalars()) == {"FC-LAMP-01", "FC-MUG-02"}
        assert sorted((await s.execute(select(CarrierClause.clause_no))).scalars()) == ["5.1", "8.2"]

    # 2. stock in
    receipts = _write(
        tmp_path / "receipts.csv", "商品编码,数量,批次,采购单号\nFC-LAMP-01,50,B2602,PO-1\nFC-MUG-02,80,B2602,PO-1\n"
    )
    received = await receive_file(db, receipts, config=config, now=clock)
    assert received.received == 2 and not received.rejected

    # 3. orders: a file (one row with an unknown SKU, refused by line), the generic webhook, Shopify
    orders = _write(
        tmp_path / "orders.csv",
        "订单号,客户ID,邮箱,金额,发货地,目的国,紧急等级,SKU,数量,下单时间,状态\n"
        f"{FILE_NO},C-FRESH-1,buyer@fresh.example,99.00,深圳,US,普通,FC-LAMP-01,1,2026-02-09 10:00,paid\n"
        "SO202602090009,C-FRESH-2,,10.00,深圳,US,普通,NOPE-1,1,2026-02-09 10:00,paid\n",
    )
    imported = await import_file(db, orders, config=config, now=clock)
    assert imported.created == 1 and any("未知SKU：NOPE-1" in reason for _, reason in imported.rejected), imported
    async with db.read() as s:  # the refused row left nothing behind
        assert (await s.execute(select(Order.order_no))).scalars().all() == [FILE_NO]

    settings = wecom_settings(
        TOKEN,
        AES_KEY,
        CORP,
        ORDERBOT_LABEL_SECRET=LABELS,
        ORDERBOT_INGEST_SECRET="fresh-ingest",
        SHOPIFY_WEBHOOK_SECRET=SHOPIFY,
        TRACKING_WEBHOOK_SECRET=TRACKING,
        ORDERBOT_MAX_BODY_BYTES=65536,
    )
    app = scanning_app(settings, db, config, clock, static_parser)
    async with TestClient(TestServer(app)) as client:
        body = json.dumps(
            order_json(HOOK_NO, channel_order_id="#F2", lines=[{"sku": "FC-MUG-02", "qty": 2}]), ensure_ascii=False
        ).encode()
        sig = "sha256=" + hmac.new(b"fresh-ingest", body, hashlib.sha256).hexdigest()
        resp = await post_order(client, body, signature=sig)
        assert resp.status == 200, await resp.text()
        shop = copy.deepcopy(SHOPIFY_ORDER)
        shop["line_items"][0].update(sku="FC-MUG-02", name="保温杯 500ml", title="保温杯 500ml")
        body = json.dumps(shop).encode()
        resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
        created = await resp.json()
        assert resp.status == 200 and (created["outcome"], created["order_no"]) == ("created", SHOP_NO), created

        # 4. the printed label scanned through the encrypted WeCom callback: the scan ships the file order
        answer = await Scanner(client).scan(label_text(LABELS, FILE_NO, "FC-LAMP-01", "B260209", 1))
        assert answer.startswith(f"✅ 出库成功 {FILE_NO} 包裹 1/1 · FC-LAMP-01\n整单已发出"), answer

        # 5. the courier batch gives it a waybill and the customer's message carries the number
        fake, weather = qweather
        await run_courier_batch(db, config, weather(), clock(), addresses=Addresses({"wecom", "email"}))
        async with db.read() as s:
            order = (await s.execute(select(Order).where(Order.order_no == FILE_NO))).scalar_one()
            ship = (
                await s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"ship:{FILE_NO}"))
            ).scalar_one()
        assert (order.status, order.carrier_code, order.tracking_no) == ("shipped", "LOCAL", f"LC{FILE_NO}CN")
        assert (ship.channel, ship.destination) == ("email", "email:buyer@fresh.example"), ship.destination
        assert ship.payload["text"] == f"已发出|单号:{order.tracking_no}|本地演示快递", ship.payload

        # 6. tracking: a customs inspection (17TRACK) and a port strike (AfterShip)
        customs = seventeen(
            "InTransit_CustomsRequiringInformation",
            "2026-02-10T03:00:00Z",
            number=order.tracking_no,
            description="Additional information is needed for clearance",
        )
        assert (await post_tracking(client, "17track", customs)).status == 200
        async with db.read() as s:
            [first] = (await s.execute(select(Delay))).scalars().all()
        assert (first.order_id, first.category, first.clause_no, first.source) == (
            order.id,
            "customs_inspection",
            "5.1",
            "17track",
        )
        strike = aftership(
            "Exception",
            "Exception_Delayed",
            "2026-02-10T04:00:00+00:00",
            event_id="fresh-strike",
            message="Port strike",
            tracking_number=order.tracking_no,
        )
        assert (await post_tracking(client, "aftership", strike)).status == 200
    async with db.read() as s:
        rows = list((await s.execute(select(Delay).order_by(Delay.id))).scalars())
        # one delay record per order: the strike updates it
        assert [(r.id, r.category, r.reason, r.clause_no, r.source) for r in rows] == [
            (first.id, "port_congestion", "港口拥堵/罢工", "8.2", "aftership")
        ]
        # the report behind 延迟原因TOP5, from these records
        top = await delay_reasons(s, date_from=date(2026, 2, 3), date_to=date(2026, 2, 10), limit=5)
    assert [(r.reason, r.orders, r.clause_no, r.carrier_name) for r in top] == [
        ("港口拥堵/罢工", 1, "8.2", "本地演示快递")
    ]

    # 7. questions answered from this company's records
    bot = Bot(db, config, static_parser, clock)
    top5_reply = await bot.ask("sunli", "2月3日到2月10日的延迟原因TOP5")
    assert plain(top5_reply.text) == "1. 深圳-美国线因物流异常：Port strike，影响本周期1单，本地演示快递合同第8.2条", (
        top5_reply.text
    )
    [evidence] = top5_reply.card.buttons  # the claim evidence of that cause, lane and carrier
    assert evidence.key.startswith("evidence:港口拥堵/罢工|深圳-美国|LOCAL|"), evidence.key
    where = await bot.ask("sunli", "现在订单都卡在哪")
    assert where.title == "此刻订单分布" and "库存池：2单" in plain(where.text), where.text  # webhook + Shopify
    cs = plain((await bot.ask("liuyang", f"查单 {HOOK_NO}")).text)
    finance = plain((await bot.ask("qianfang", f"查单 {HOOK_NO}")).text)
    packer = plain((await bot.ask("zhangsan", f"查单 {HOOK_NO}")).text)
    assert "客户备注：客户备注" in cs and "开票状态" not in cs
    assert "财务：开票状态 未开票" in finance
    assert "客户备注" not in packer and "占用库存：FC-MUG-02×2" in packer
    shipped = plain((await bot.ask("liuyang", f"查单 {FILE_NO}")).text)
    assert f"运单号 {order.tracking_no}" in shipped and "客户 C-FRESH-1" in shipped

    todo = await bot.ask("chenjing", "我的待办")
    [task] = todo.table.rows  # the customs_stuck rule's task, opened by the 17TRACK push
    assert task[1:3] == ("卡关-人工介入", f"卡关-人工介入：{FILE_NO}"), todo.table

    # 8. freeze Shopify (confirmed), an order arrives meanwhile and is held, unfreeze, release it
    done = await bot.confirmed("heping", "冻结Shopify渠道")
    assert "已冻结 独立站 渠道" in plain(done.text), done.text
    async with TestClient(TestServer(_app(settings, config, db, clock))) as client:
        body = json.dumps(HELD_ORDER).encode()
        resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, webhook_id="wh-2"))
        held = await resp.json()
    assert resp.status == 200 and (held["order_no"], held["review_hold"]) == (HELD_NO, True), held
    done = await bot.confirmed("heping", "解冻Shopify渠道")
    assert "已解冻 独立站 渠道" in plain(done.text) and "待审核的订单 1 单" in plain(done.text), done.text
    async with db.read() as s:
        assert (await s.execute(select(Order.review_hold).where(Order.order_no == HELD_NO))).scalar_one()
    done = await bot.confirmed("heping", f"审核通过 {HELD_NO}")
    assert plain(done.text).startswith("已放行 1 单待审核订单") and HELD_NO in done.text, done.text
    async with db.read() as s:
        assert not (await s.execute(select(Order.review_hold).where(Order.order_no == HELD_NO))).scalar_one()


def _app(settings, config, db, clock):
    return create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)


class Bot:
    """The answering path (pipeline → dispatcher → handler) as a staff member in chat."""

    def __init__(self, db, config, parser, clock):
        self.clock = clock
        self.pipeline = InboundPipeline(db, Dispatcher(db, parser, config, clock), clock)
        self.n = 0

    async def ask(self, who: str, text: str):
        self.n += 1
        origin = Origin("sandbox", who, None, reply_channel="sandbox", reply_to=f"user:{who}")
        return (await self.pipeline.process(ChatMessage(origin, text, f"m{self.n}", self.clock()))).reply

    async def confirmed(self, who: str, text: str):
        """A typed write: the bot asks first (the 确认 button), then the asker presses it."""
        asked = await self.ask(who, text)
        assert asked.card is not None and asked.card.buttons[0].text == "确认", asked.text
        return await self.click(who, asked.card.buttons[0].key)

    async def click(self, who: str, key: str):
        self.n += 1
        origin = Origin("sandbox", who, None, reply_channel="sandbox", reply_to=f"user:{who}")
        return (await self.pipeline.process(CardAction(origin, key, f"c{self.n}", self.clock()))).reply
