"""A new company through the CLI, in process: migrate an empty SQLite file, import its catalogue and carriers,
take orders that must wait for stock, receive stock and see them released; bad rows named by line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from orderbot.cli import main
from orderbot.core.models import CarrierClause, Order
from orderbot.core.stock import ledger
from orderbot.db.engine import Database

EXAMPLE = Path(__file__).resolve().parents[2] / "orderbot.example.toml"


@pytest.fixture
def company(tmp_path, monkeypatch):
    for name in ("ORDERBOT_INGEST_SECRET", "ORDERBOT_LABEL_SECRET"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'company.db'}"
    monkeypatch.setenv("ORDERBOT_DATABASE_URL", url)
    monkeypatch.setenv("ORDERBOT_CONFIG", str(EXAMPLE))
    monkeypatch.chdir(tmp_path)
    assert main(["migrate"]) == 0
    return tmp_path, url


def _read(url, fn):
    async def run():
        db = Database.from_url(url)
        try:
            async with db.read() as s:
                return await fn(s)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_catalogue_carriers_orders_and_stock_in_from_files(company, capsys):
    tmp, url = company
    products = tmp / "products.csv"
    products.write_text(
        "商品编码,品名,类目,UN编号,重量(g),成本,补货点,采购周期(天)\n"
        "PB-20K-BLK,20000mAh 移动电源,移动电源,UN3480,420,58.5,200,12\n"
        "CASE-IP15-CLR,手机壳,手机壳,,30,4.2,50,7\n"
        "BROKEN,,手机壳,,,,,\n",
        encoding="utf-8",
    )
    assert main(["catalog", "import", str(products), "--quiet"]) == 1
    out = capsys.readouterr()
    assert "第 4 行: 品名: 必填" in out.err and "商品导入完成：新建 2" in out.out and "拒绝 1" in out.out
    assert main(["catalog", "import", str(products), "--quiet"]) == 1
    assert "新建 0，更新 0，未变 2" in capsys.readouterr().out

    wb = Workbook()
    wb.active.append(["carrier", "carrier_name", "clause_no", "title", "text", "causes", "compensation"])
    wb.active.append(["COSCO", "中远海运", "8.2", "港口罢工", "罢工顺延时效", "port_congestion", "未通知按9.1赔付"])
    carriers = tmp / "carriers.xlsx"
    wb.save(carriers)
    assert main(["catalog", "import", str(carriers), "--quiet"]) == 0
    assert "承运商条款导入完成：新建 1" in capsys.readouterr().out

    orders = tmp / "orders.csv"
    orders.write_text(
        "订单号,客户ID,金额,发货地,紧急等级,SKU,数量,下单时间,状态\n"
        "SO202602010002,C2,10.00,深圳,普通,PB-20K-BLK,30,2026-02-02 10:00,paid\n"
        "SO202602010001,C1,10.00,深圳,普通,PB-20K-BLK,20,2026-02-01 10:00,paid\n"
        "SO202602010003,C3,10.00,深圳,普通,NOPE-1,1,2026-02-01 10:00,paid\n",
        encoding="utf-8",
    )
    assert main(["import", str(orders), "--quiet"]) == 1
    out = capsys.readouterr()
    assert "未知SKU：NOPE-1" in out.err and "新建 2" in out.out

    receipts = tmp / "receipts.csv"
    receipts.write_text("商品编码,数量,批次,采购单号\nPB-20K-BLK,40,B2612,PO-7\nNOPE-1,5,B1,\n", encoding="utf-8")
    assert main(["stock", "receive", str(receipts), "--quiet"]) == 1
    out = capsys.readouterr()
    assert "第 3 行: 商品编码: 未知SKU NOPE-1" in out.err
    assert "到货 1" in out.out and "已放行等待到货的订单：SO202602010001" in out.out
    assert "SO202602010002" not in out.out  # 20 of 40 left, it needs 30: it waits, in promise order
    assert main(["stock", "receive", str(receipts), "--quiet"]) == 1
    again = capsys.readouterr().out
    assert "到货 0" in again and "重复未记 1" in again

    async def check(s):
        level = await ledger.levels(s, "PB-20K-BLK")
        stages = dict((await s.execute(select(Order.order_no, Order.stage))).all())
        clause = (await s.execute(select(CarrierClause))).scalar_one()
        return level, stages, clause, await ledger.ledger_totals(s, "PB-20K-BLK")

    level, stages, clause, totals = _read(url, check)
    assert (level.on_hand, level.reserved) == (40, 20) == totals
    assert stages == {"SO202602010001": "qc", "SO202602010002": "purchase"}
    assert clause.causes == ["port_congestion"]


def test_missing_file_and_unknown_type(company, capsys):
    tmp, _ = company
    assert main(["stock", "receive", str(tmp / "nope.csv")]) == 2
    odd = tmp / "stock.txt"
    odd.write_text("x", encoding="utf-8")
    assert main(["catalog", "import", str(odd)]) == 2
    assert "不支持的文件类型" in capsys.readouterr().err
