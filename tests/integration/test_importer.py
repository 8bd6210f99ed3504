"""`orderbot import`: CSV, XLSX and JSONL; bad rows named by row number, good rows loaded, re-import inert."""

from __future__ import annotations

import json

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from orderbot.core.models import Order, OrderEvent, OrderLine
from orderbot.core.orders.service import get_order
from orderbot.core.stock import ledger
from orderbot.tools.importer import ImportFileError, import_file

from tests.helpers import add_products, order_json

CSV_HEADER = "订单号,客户ID,客户名称,省份,金额,发货地,目的国,紧急等级,渠道,SKU,数量,下单时间,备注\n"
CSV_ROWS = [
    "SO202602010001,C0001,杭州某某贸易,浙江省,1234.50,深圳,US,普通,亚马逊,PB-20K-BLK,2,2026-02-01 10:00,\n",
    "SO202602010001,C0001,杭州某某贸易,浙江省,1234.50,深圳,US,普通,亚马逊,CASE-IP15-CLR,1,2026-02-01 10:00,\n",
    "SO202602010002,C0002,广州某某电子,广东,abc,广州,DE,普通,,PB-20K-BLK,1,2026-02-01 11:00,\n",
    "SO202602010003,,无名客户,江苏,99.00,义乌,GB,加急,,PB-20K-BLK,1,,\n",
    "SO202602010004,C0004,南京某某,江苏,88.00,义乌,GB,加急,temu,NOPE-404,1,,\n",
    "SO202602010005,C0005,成都某某,四川,66.60,深圳,US,特急,shopify,EB-TWS-WHT,3,2026-02-02T09:00:00+08:00,要发票\n",
]


async def _counts(db):
    async with db.read() as s:
        orders = (await s.execute(select(func.count()).select_from(Order))).scalar()
        lines = (await s.execute(select(func.count()).select_from(OrderLine))).scalar()
        events = (await s.execute(select(func.count()).select_from(OrderEvent))).scalar()
    return orders, lines, events


@pytest.fixture
async def stocked(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
    return db


async def test_csv_with_chinese_headers_reports_bad_rows_and_loads_the_rest(stocked, config, clock, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(CSV_HEADER + "".join(CSV_ROWS), encoding="utf-8-sig")
    report = await import_file(stocked, path, config=config, now=clock)
    assert (report.created, report.updated, report.unchanged) == (2, 0, 0)
    rejected = dict(report.rejected)
    assert rejected.keys() == {"第 4 行", "第 5 行", "第 6 行"}
    assert "金额" in rejected["第 4 行"] and "金额不是数字" in rejected["第 4 行"]
    assert "客户ID" in rejected["第 5 行"] and "必填" in rejected["第 5 行"]
    assert "未知SKU：NOPE-404" in rejected["第 6 行"]
    async with stocked.read() as s:
        order = await get_order(s, "SO202602010001")
        assert order.channel_code == "amazon" and order.amount_cents == 123450
        assert await ledger.held_for_order(s, "SO202602010001") == {"PB-20K-BLK": 2, "CASE-IP15-CLR": 1}
        other = await get_order(s, "SO202602010005")
        assert other.urgency == "critical" and other.notes == "要发票"
    before = await _counts(stocked)
    again = await import_file(stocked, path, config=config, now=clock)
    assert (again.created, again.updated, again.unchanged, len(again.rejected)) == (0, 0, 2, 3)
    assert await _counts(stocked) == before


async def test_xlsx_import_with_lines_cell(stocked, config, clock, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["order_no", "customer_id", "amount", "origin", "urgency", "lines", "dest_country", "status"])
    ws.append(["SO202602020001", "C0009", 250.5, "深圳", "normal", "PB-20K-BLK*2; EB-TWS-WHT*1", "US", "paid"])
    ws.append(["SO202602020002", "C0009", 10, "深圳", "normal", "CASE-IP15-CLR", "US", "已取消"])
    ws.append([None, None, None, None, None, None, None, None])
    ws.append(["SO202602020003", "C0010", -5, "深圳", "normal", "CASE-IP15-CLR*1", "US", "paid"])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    report = await import_file(stocked, path, config=config, now=clock)
    assert (report.created, len(report.rejected)) == (2, 1)
    assert report.rejected[0][0] == "第 5 行" and "非负" in report.rejected[0][1]
    async with stocked.read() as s:
        first = await get_order(s, "SO202602020001")
        assert first.amount_cents == 25050 and first.customs_grade == "C"
        assert await ledger.held_for_order(s, first.order_no) == {"PB-20K-BLK": 2, "EB-TWS-WHT": 1}
        assert (await get_order(s, "SO202602020002")).status == "cancelled"


async def test_jsonl_import_and_bad_json_line(stocked, config, clock, tmp_path):
    path = tmp_path / "orders.jsonl"
    lines = [
        json.dumps(order_json(), ensure_ascii=False),
        "{oops",
        "",
        json.dumps(order_json("SO202602010009", customer={"name": "x"}), ensure_ascii=False),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await import_file(stocked, path, config=config, now=clock)
    assert report.created == 1
    assert [label for label, _ in report.rejected] == ["第 2 行", "第 4 行"]
    assert "不是合法的JSON" in report.rejected[0][1]


async def test_unsupported_file_and_missing_header(stocked, config, clock, tmp_path):
    txt = tmp_path / "orders.txt"
    txt.write_text("x")
    with pytest.raises(ImportFileError, match="不支持的文件类型"):
        await import_file(stocked, txt, config=config, now=clock)
    csv = tmp_path / "no_header.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(ImportFileError, match="订单号"):
        await import_file(stocked, csv, config=config, now=clock)


@pytest.mark.slow
async def test_large_import_in_batches(stocked, config, clock, tmp_path):
    path = tmp_path / "many.csv"
    rows = [
        f"SO2026030{i:07d},C{i % 37:04d},客户{i % 37},浙江,{i}.00,深圳,US,普通,CASE-IP15-CLR,1\n" for i in range(450)
    ]
    path.write_text("订单号,客户ID,客户名称,省份,金额,发货地,目的国,紧急等级,SKU,数量\n" + "".join(rows))
    seen = []
    report = await import_file(stocked, path, config=config, now=clock, progress=seen.append)
    assert report.created == 450 and not report.rejected and sum(seen) == 450 and len(seen) == 3
    assert (await _counts(stocked))[0] == 450
