"""Builders shared by the tests: master data and generic orders."""

from __future__ import annotations

from orderbot.core.models import Product
from orderbot.core.stock import ledger

PRODUCTS = [
    ("PB-20K-BLK", "20000mAh 移动电源 黑", "移动电源", "UN3480", "PI 965"),
    ("EB-TWS-WHT", "蓝牙耳机 白", "蓝牙耳机", "UN3481", "PI 967"),
    ("CASE-IP15-CLR", "iPhone 15 手机壳 透明", "手机壳", None, None),
]


async def add_products(session, config, stock: int = 100, at=None):
    for sku, name, category, un, pi in PRODUCTS:
        session.add(
            Product(
                sku=sku,
                name=name,
                category=category,
                customs_grade=config.customs.grade_for(category),
                hazmat_class=un,
                packing_instruction=pi,
                weight_g=200,
            )
        )
    await session.flush()
    for sku, *_ in PRODUCTS:
        await ledger.ensure_level(session, sku)
        if stock:
            await ledger.receive(session, sku, stock, at=at, actor="test", note="opening stock")


def order_json(order_no="SO202602010001", **over):
    data = {
        "order_no": order_no,
        "channel": "shopify",
        "channel_order_id": "#1001",
        "customer": {
            "id": "C0001",
            "name": "杭州某某贸易",
            "province": "浙江",
            "wechat_openid": "o-abc",
            "email": "a@b.c",
        },
        "amount": "1234.50",
        "currency": "CNY",
        "origin": "深圳",
        "dest_country": "US",
        "urgency": "normal",
        "created_at": "2026-02-01T10:00:00+08:00",
        "lines": [{"sku": "PB-20K-BLK", "qty": 2}],
        "notes": "客户备注",
        "status": "paid",
    }
    data.update(over)
    return data


async def no_reply(event, session):
    """A handler for tests of the transport: records nothing, answers nothing."""
    return None
