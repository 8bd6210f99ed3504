"""The order card on SQLite and PostgreSQL: found by any reference, complete, filtered for the asker's role."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import update

from orderbot.core.errors import OrderNotFound, PermissionDenied
from orderbot.core.models import Communication, Package
from orderbot.core.orders.card import order_card
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import (
    get_order,
    ingest_order,
    override_promised_date,
    release_review_hold,
    set_channel_frozen,
)
from orderbot.core.stock import ledger

from tests.helpers import add_products, order_json


@pytest.fixture
async def seeded(db, config, clock, snapshots):
    async def build() -> None:
        async with db.write() as s:
            await add_products(s, config, at=clock())
            await ingest_order(
                s,
                parse_order(
                    order_json(
                        lines=[{"sku": "PB-20K-BLK", "qty": 2}, {"sku": "CASE-IP15-CLR", "qty": 1}],
                        channel="amazon",
                        channel_order_id="112-1234567-1234567",
                        tax_exempt_no="TX-88",
                    )
                ),
                source="webhook",
                config=config,
                now=clock(),
            )
            order = await get_order(s, "SO202602010001")
            await s.execute(
                update(Package)
                .where(Package.order_id == order.id, Package.package_no == 1)
                .values(tracking_no="YT123456789CN")
            )
            for i in range(7):
                s.add(
                    Communication(
                        order_id=order.id,
                        at=clock() + timedelta(minutes=i),
                        direction="in",
                        medium="wechat",
                        party="客户",
                        summary=f"客户催单 {i}",
                    )
                )

    await snapshots.seed(db, "order_card", build)
    return db


@pytest.mark.parametrize(
    "ref", ["SO202602010001", "so202602010001", "112-1234567-1234567", "YT123456789CN", " yt123456789cn "]
)
async def test_card_found_by_any_reference(seeded, config, ref):
    async with seeded.read() as s:
        card = await order_card(s, ref, roles={"customer_service"}, rules=config.visibility)
    assert card["order_no"] == "SO202602010001"


async def test_card_has_everything_customer_service_needs(seeded, config):
    async with seeded.read() as s:
        card = await order_card(s, "SO202602010001", roles={"customer_service"}, rules=config.visibility)
    assert card["status_name"] == "已付款" and card["stage_name"] == "库存池"
    assert "◉库存池" in card["progress"]
    assert card["promised_date"] == "2026-02-06" and card["promised_overridden"] is False
    assert card["stock_held"] == {"PB-20K-BLK": 2, "CASE-IP15-CLR": 1}
    assert [t["type"] for t in card["tasks"]] == ["customs_docs"]
    assert [m["summary"] for m in card["messages"]] == [f"客户催单 {i}" for i in (6, 5, 4, 3, 2)]
    assert card["timeline"][0]["kind"] == "stage" and card["timeline"][-1]["kind"] == "created"
    assert [(p["package_no"], p["tracking_no"]) for p in card["packages"]] == [(1, "YT123456789CN"), (2, None)]
    assert card["notes"] == "客户备注" and card["customer_email"] == "a@b.c"
    assert "tax_exempt_no" not in card


async def test_warehouse_card_hides_notes_and_messages(seeded, config):
    async with seeded.read() as s:
        card = await order_card(s, "SO202602010001", roles={"warehouse"}, rules=config.visibility)
    assert "notes" not in card and "messages" not in card and "customer_email" not in card
    assert card["customs_grade"] == "C" and card["amount"] == "1234.50"


async def test_unknown_reference_is_a_clear_error(seeded, config):
    async with seeded.read() as s:
        with pytest.raises(OrderNotFound, match="没有找到订单 SO999"):
            await order_card(s, "SO999", roles={"customer_service"}, rules=config.visibility)


async def test_supervisor_override_wins_and_is_recorded(seeded, config, clock):
    async with seeded.write() as s:
        order = await get_order(s, "SO202602010001")
        with pytest.raises(PermissionDenied, match="只有销售主管"):
            await override_promised_date(
                s, order, date(2026, 3, 5), actor="wanglei", roles={"sales"}, reason="客户要求", now=clock()
            )
        await override_promised_date(
            s, order, date(2026, 3, 5), actor="zhoumin", roles={"sales_supervisor"}, reason="客户要求延期", now=clock()
        )
    async with seeded.read() as s:
        card = await order_card(s, "SO202602010001", roles={"sales"}, rules=config.visibility)
    assert card["promised_date"] == "2026-03-05" and card["promised_overridden"] is True
    assert card["override"]["by"] == "zhoumin" and card["override"]["reason"] == "客户要求延期"
    assert card["timeline"][0]["detail"] == "预计交付 2026-02-06 → 2026-03-05（客户要求延期）"


async def test_review_hold_release_enters_fulfilment(db, config, clock):
    async with db.write() as s:
        await add_products(s, config, at=clock())
        await set_channel_frozen(s, "tiktok", True, actor="heping", reason="取消率超标", now=clock())
        await ingest_order(s, parse_order(order_json(channel="tiktok")), source="webhook", config=config, now=clock())
    async with db.write() as s:
        order = await get_order(s, "SO202602010001")
        assert order.review_hold
        await release_review_hold(s, order, actor="heping", now=clock())
    async with db.read() as s:
        order = await get_order(s, "SO202602010001")
        assert not order.review_hold and order.stage == "inventory"
        assert await ledger.held_for_order(s, order.order_no) == {"PB-20K-BLK": 2}


async def test_card_shows_the_carrier_eta_and_a_stuck_clearance(seeded, config):
    from orderbot.bot.handlers.orders import card_text
    from orderbot.core.models import Order

    async with seeded.write() as s:
        await s.execute(
            update(Order)
            .where(Order.order_no == "SO202602010001")
            .values(
                customs_state="stuck",
                expected_delivery=date(2026, 2, 9),
                eta_cause="美西港口拥堵",
                tracking_status="InTransit_CustomsProcessing",
            )
        )
    async with seeded.read() as s:
        card = await order_card(s, "SO202602010001", roles={"customer_service"}, rules=config.visibility)
    assert card["status_name"] == "卡关-人工介入" and card["expected_delivery"] == "2026-02-09"
    text = card_text(card)
    assert "⚠️ 承运商预计送达 2026-02-09（美西港口拥堵）" in text and "清关超时" in text


async def test_finance_and_customs_see_their_fields_and_sales_the_customer_tags(seeded, config):
    from orderbot.bot.handlers.orders import card_text
    from orderbot.core.models import Customer, Order

    async with seeded.write() as s:
        await s.execute(
            update(Order).where(Order.order_no == "SO202602010001").values(stage="customs", invoice_status="待退税")
        )
        await s.execute(update(Customer).where(Customer.id == "C0001").values(tags=["急单试探"]))
    async with seeded.read() as s:
        finance = await order_card(s, "SO202602010001", roles={"finance"}, rules=config.visibility)
        customs = await order_card(s, "SO202602010001", roles={"customs"}, rules=config.visibility)
        sales = await order_card(s, "SO202602010001", roles={"sales"}, rules=config.visibility)
        packer = await order_card(s, "SO202602010001", roles={"warehouse"}, rules=config.visibility)
    assert "财务：免税编号 TX-88 · 开票状态 待退税" in card_text(finance)
    assert "关务：海关合规等级 C · 报关资料 待补" in card_text(customs)
    assert "客户标签：急单试探" in card_text(sales)
    for other in (customs, sales, packer):
        assert "免税编号" not in card_text(other) and "开票状态" not in card_text(other)
    assert "客户标签" not in card_text(packer) and "关务：" not in card_text(finance)
    assert "客户标签" not in card_text(finance)
