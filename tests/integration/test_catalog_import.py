"""`orderbot catalog import`: products and carriers from csv/xlsx/jsonl, bad rows by line, re-import inert."""

from __future__ import annotations

import json

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from orderbot.core.models import CarrierClause, Product, StockLevel
from orderbot.tools.catalog_import import import_catalog
from orderbot.tools.tabular import ImportFileError

PRODUCTS_CSV = (
    "商品编码,品名,类目,UN编号,重量(g),成本,补货点,采购周期(天)\n"
    "pb-20k-blk,20000mAh 移动电源 黑,移动电源,UN3480,420,58.50,200,12\n"
    "EB-TWS-WHT,蓝牙耳机 白,蓝牙耳机,3481,60,35,100,7\n"
    "CASE-IP15-CLR,iPhone 15 手机壳,手机壳,,30,4.2,,\n"
    "BAD SKU!,坏行,手机壳,,,,,\n"
    "X-1,,手机壳,UN12,heavy,-1,,400\n"
)


async def _products(db):
    async with db.read() as s:
        return {p.sku: p for p in (await s.execute(select(Product))).scalars()}


async def test_products_from_csv_grade_hazard_bad_rows_and_idempotence(db, config, tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(PRODUCTS_CSV, encoding="utf-8-sig")
    kind, report = await import_catalog(db, path, config=config)
    assert kind == "products"
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    rejected = dict(report.rejected)
    assert set(rejected) == {"第 5 行", "第 6 行"}
    assert rejected["第 5 行"].startswith("商品编码: ")
    bad = rejected["第 6 行"]
    for part in ("品名: 必填", "UN编号: ", "重量(g): 不是数字", "成本: ", "采购周期(天): 应在 0–365"):
        assert part in bad
    products = await _products(db)
    pb = products["PB-20K-BLK"]
    assert (pb.customs_grade, pb.hazmat_class, pb.packing_instruction) == ("C", "UN3480", "PI 965")
    assert (pb.weight_g, pb.unit_cost_cents, pb.reorder_point, pb.lead_time_days) == (420, 5850, 200, 12)
    assert products["EB-TWS-WHT"].hazmat_class == "UN3481" and products["EB-TWS-WHT"].customs_grade == "B"
    case = products["CASE-IP15-CLR"]
    assert case.hazmat_class is None and case.customs_grade == "A" and case.reorder_point is None
    async with db.read() as s:
        assert (await s.execute(select(func.count()).select_from(StockLevel))).scalar() == 3

    _, again = await import_catalog(db, path, config=config)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    path.write_text(PRODUCTS_CSV.replace("58.50,200", "61.00,250"), encoding="utf-8-sig")
    _, changed = await import_catalog(db, path, config=config)
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 2)
    pb = (await _products(db))["PB-20K-BLK"]
    assert (pb.unit_cost_cents, pb.reorder_point) == (6100, 250)


async def test_products_from_xlsx_and_jsonl(db, config, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["sku", "name", "category", "un_number", "weight_g", "unit_cost", "reorder_point", "lead_time_days"])
    ws.append(["WATCH-S1", "智能手表 S1", "智能手表", "UN3481", 80, 120.5, 30, 20])
    ws.append(["WATCH-S2", "智能手表 S2", None, None, None, None, None, None])
    path = tmp_path / "products.xlsx"
    wb.save(path)
    _, report = await import_catalog(db, path, config=config)
    assert report.created == 1 and dict(report.rejected) == {"第 3 行": "类目: 必填"}

    jsonl = tmp_path / "products.jsonl"
    jsonl.write_text(
        json.dumps({"sku": "TOY-CAR", "name": "玩具车", "category": "玩具", "unit_cost": "9.9"}, ensure_ascii=False)
        + "\n{broken\n",
        encoding="utf-8",
    )
    _, report = await import_catalog(db, jsonl, config=config)
    assert report.created == 1 and [label for label, _ in report.rejected] == ["第 2 行"]
    products = await _products(db)
    assert products["WATCH-S1"].customs_grade == "B" and products["WATCH-S1"].unit_cost_cents == 12050
    assert products["TOY-CAR"].customs_grade == "B" and products["TOY-CAR"].unit_cost_cents == 990


async def test_carriers_and_clauses_recognised_by_headers(db, config, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["承运商", "承运商名称", "条款编号", "条款标题", "条款内容", "适用延误原因", "赔付条款"])
    ws.append(
        [
            "YUNEXPRESS",
            "云途物流",
            "7.2",
            "清关延误",
            "因海关查验导致的延误不视为承运商违约",
            "customs_inspection",
            "不赔付",
        ]
    )
    ws.append(["YUNEXPRESS", "云途物流", "8.1", "不可抗力", "天气、罢工等不可抗力", "天气、港口拥堵/罢工", "免责"])
    ws.append(["COSCO", None, "3.4", "丢失", "货物丢失或破损按申报价值赔付", "丢失/破损", "按申报价值，最高500元"])
    ws.append(["COSCO", None, "3.5", "", "", "台风", ""])
    path = tmp_path / "carriers.xlsx"
    wb.save(path)
    kind, report = await import_catalog(db, path, config=config)
    assert kind == "carriers"
    assert report.created == 3
    ((label, reason),) = report.rejected
    assert label == "第 5 行" and "条款内容: 必填" in reason and "适用延误原因: 不认识 台风" in reason
    async with db.read() as s:
        clauses = {(c.carrier_code, c.clause_no): c for c in (await s.execute(select(CarrierClause))).scalars()}
    assert clauses[("YUNEXPRESS", "8.1")].causes == ["weather", "port_congestion"]
    assert clauses[("COSCO", "3.4")].compensation == "按申报价值，最高500元"
    _, again = await import_catalog(db, path, config=config)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)


async def test_a_file_without_the_required_columns_is_refused_whole(db, config, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("商品编码,品名\nA-1,x\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="类目"):
        await import_catalog(db, path, config=config)
