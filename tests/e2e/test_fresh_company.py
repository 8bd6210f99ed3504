"""Issue 17 acceptance, a fresh company: from an empty migrated database with no seed, the company's own
catalogue and carrier clauses, stock in, orders from a file and both order webhooks, a scan that ships, the
courier batch's waybill told to the customer, tracking pushes (customs hold, port strike) and the delay report
read back from those records. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import json
from datetime import date

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openpyxl import Workbook
from sqlalchemy import func, select

from orderbot.app import create_app
from orderbot.bot.handlers.courier import run_courier_batch
from orderbot.core.models import CarrierClause, Delay, Order, OutboxMessage, Product
from orderbot.core.reports.delays import delay_reasons
from orderbot.core.staff import sync_staff
from orderbot.core.warehouse.labels import label_text
from orderbot.core.warehouse.scanning import scan_package
from orderbot.messaging.addresses import Addresses
from orderbot.settings import load_settings
from orderbot.tools.catalog_import import import_catalog
from orderbot.tools.importer import import_file
from orderbot.tools.stock_import import receive_file
from orderbot.webhooks.common import RULES_HOOK

from tests.e2e.test_tracking import SECRET as TRACKING, aftership, post as post_tracking, seventeen
from tests.e2e.test_webhooks_orders import SHOPIFY, SHOPIFY_ORDER, post_order, shopify_headers
from tests.helpers import no_reply, order_json
from tests.integration.test_courier import qweather  # noqa: F401  (the fake QWeather fixture)

LABELS = "fresh-label-secret"
FILE_NO, HOOK_NO = "SO202602090001", "SO202602090002"
SHOP_NO = "SO820982911946154508"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
async def test_a_fresh_company_from_empty_database(db, config, clock, tmp_path, qweather):  # noqa: F811
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Product))).scalar() == 0  # no seed
    async with db.write() as s:
        await sync_staff(s, config)

    # 1. catalogue and carriers with clauses; a bad row is named by its line and nothing of it is written
    products = _write(tmp_path / "products.csv",
                      "商品编码,品名,类目,UN编号,重量(g),成本,补货点,采购周期(天)\n"
                      "FC-LAMP-01,折叠台灯,灯具,,650,35.0,20,10\n"
                      "FC-MUG-02,保温杯 500ml,杯具,,380,12.5,30,7\n"
                      "FC-BAD,,杯具,,,,,\n")
    kind, report = await import_catalog(db, products, config=config)
    assert report.created == 2 and [f"{label}: {reason}" for label, reason in report.rejected] == [
        "第 4 行: 品名: 必填"], report
    wb = Workbook()
    wb.active.append(["carrier", "carrier_name", "clause_no", "title", "text", "causes", "compensation"])
    wb.active.append(["LOCAL", "本地演示快递", "8.2", "港口罢工", "罢工造成延误的，承运商应在48小时内书面通知。",
                      "port_congestion", "未通知按9.1赔付"])
    wb.active.append(["LOCAL", "本地演示快递", "5.1", "清关查验", "海关查验的滞留时间不计入承诺时效。",
                      "customs_inspection", ""])
    carriers = tmp_path / "carriers.xlsx"
    wb.save(carriers)
    kind, report = await import_catalog(db, carriers, config=config)
    assert report.created == 2 and not report.rejected, report
    async with db.read() as s:
        assert set((await s.execute(select(Product.sku))).scalars()) == {"FC-LAMP-01", "FC-MUG-02"}
        assert sorted((await s.execute(select(CarrierClause.clause_no))).scalars()) == ["5.1", "8.2"]

    # 2. stock in
    receipts = _write(tmp_path / "receipts.csv", "商品编码,数量,批次,采购单号\nFC-LAMP-01,50,B2602,PO-1\n"
                                                 "FC-MUG-02,80,B2602,PO-1\n")
    received = await receive_file(db, receipts, config=config, now=clock)
    assert received.received == 2 and not received.rejected

    # 3. orders: a file (one row with an unknown SKU, refused by line), the generic webhook, Shopify
    orders = _write(tmp_path / "orders.csv",
                    "订单号,客户ID,金额,发货地,紧急等级,SKU,数量,下单时间,状态\n"
                    f"{FILE_NO},C-FRESH-1,99.00,深圳,普通,FC-LAMP-01,1,2026-02-09 10:00,paid\n"
                    "SO202602090009,C-FRESH-2,10.00,深圳,普通,NOPE-1,1,2026-02-09 10:00,paid\n")
    imported = await import_file(db, orders, config=config, now=clock)
    assert imported.created == 1 and any("未知SKU：NOPE-1" in reason for _, reason in imported.rejected), imported

    settings = load_settings(env_file=None, ORDERBOT_INGEST_SECRET="fresh-ingest", SHOPIFY_WEBHOOK_SECRET=SHOPIFY,
                             TRACKING_WEBHOOK_SECRET=TRACKING, ORDERBOT_MAX_BODY_BYTES=65536)
    app = create_app(settings, config=config, db=db, clock=clock, handler=no_reply, run_worker=False)

    async def quiet(topic: str) -> None:
        return None

    app[RULES_HOOK] = quiet
    async with TestClient(TestServer(app)) as client:
        import hashlib
        import hmac
        body = json.dumps(order_json(HOOK_NO, channel_order_id="#F2", lines=[{"sku": "FC-MUG-02", "qty": 2}]),
                          ensure_ascii=False).encode()
        sig = "sha256=" + hmac.new(b"fresh-ingest", body, hashlib.sha256).hexdigest()
        resp = await post_order(client, body, signature=sig)
        assert resp.status == 200, await resp.text()
        shop = copy.deepcopy(SHOPIFY_ORDER)
        shop["line_items"][0].update(sku="FC-MUG-02", name="保温杯 500ml", title="保温杯 500ml")
        body = json.dumps(shop).encode()
        resp = await client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
        assert resp.status == 200 and (await resp.json())["outcome"] == "created"

        # 4. labels scanned: the scan ships the file order
        async with db.write() as s:
            result = await scan_package(s, raw=label_text(LABELS, FILE_NO, "FC-LAMP-01", "B260209", 1),
                                        staff_id="zhangsan", platform_user="ZhangSan", station="pack-1",
                                        now=clock(), config=config, secret=LABELS)
        assert result.ok, result.message

        # 5. the courier batch gives it a waybill and the customer's message carries the number
        fake, weather = qweather
        await run_courier_batch(db, config, weather(), clock(), addresses=Addresses({"wecom", "email"}))
        async with db.read() as s:
            order = (await s.execute(select(Order).where(Order.order_no == FILE_NO))).scalar_one()
            ship = (await s.execute(select(OutboxMessage).where(OutboxMessage.dedupe_key == f"ship:{FILE_NO}")))\
                .scalar_one()
        assert order.tracking_no and order.carrier_code == "LOCAL"
        assert ship.payload["text"].startswith(f"已发出|单号:{order.tracking_no}")

        # 6. tracking: a customs inspection (17TRACK) and a port strike (AfterShip)
        customs = seventeen("InTransit_CustomsInspecting", "2026-02-10T03:00:00Z", number=order.tracking_no,
                            description="Customs inspection")
        assert (await post_tracking(client, "17track", customs)).status == 200
        strike = aftership("Exception", "Exception_Delayed", "2026-02-10T04:00:00+00:00", event_id="fresh-strike",
                           message="Port strike", tracking_number=order.tracking_no)
        assert (await post_tracking(client, "aftership", strike)).status == 200
    async with db.read() as s:
        rows = list((await s.execute(select(Delay).order_by(Delay.id))).scalars())
        assert {r.category for r in rows} <= {"customs_inspection", "port_congestion"} and rows
        assert rows[-1].category == "port_congestion" and rows[-1].clause_no == "8.2"
        # 7. 延迟原因TOP5 from these records
        top = await delay_reasons(s, date_from=date(2026, 2, 3), date_to=date(2026, 2, 10), limit=5)
    assert top and top[0].reason == "港口拥堵/罢工" and top[0].clause_no == "8.2" and top[0].carrier_name == "本地演示快递"
