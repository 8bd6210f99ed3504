"""Builders shared by the tests: master data and generic orders."""

from __future__ import annotations

from orderbot.core.models import Product
from orderbot.core.stock import ledger
from orderbot.settings import Settings, load_settings

PRODUCTS = [
    ("PB-20K-BLK", "20000mAh 移动电源 黑", "移动电源", "UN3480", "PI 965"),
    ("EB-TWS-WHT", "蓝牙耳机 白", "蓝牙耳机", "UN3481", "PI 967"),
    ("CASE-IP15-CLR", "iPhone 15 手机壳 透明", "手机壳", None, None),
]


async def add_products(session, config, stock: int = 100, at=None, products=PRODUCTS, weight_g: int | None = 200):
    """The products (sku, name, category, UN number, packing instruction), each with `stock` on hand."""
    for sku, name, category, un, pi in products:
        session.add(
            Product(
                sku=sku,
                name=name,
                category=category,
                customs_grade=config.customs.grade_for(category),
                hazmat_class=un,
                packing_instruction=pi,
                weight_g=weight_g,
            )
        )
    await session.flush()
    for sku, *_ in products:
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


def wecom_settings(token: str, aes_key: str, corp: str, **env) -> Settings:
    """Settings for a WeCom app (agent 1) whose callbacks are sealed with this token, key and corp, plus `env`."""
    return load_settings(
        env_file=None, WECOM_TOKEN=token, WECOM_ENCODING_AES_KEY=aes_key, WECOM_CORP_ID=corp, WECOM_AGENT_ID="1", **env
    )


def sealed_scan(token: str, aes_key: str, corp: str, i: int, result: str, *, station: str = "pack-1", nonce: str = "n"):
    """The i-th encrypted scancode_waitmsg callback of ZhangSan's scanner: (query params, body)."""
    from wechatpy.enterprise.crypto import WeChatCrypto

    from orderbot.webhooks.wecom import seal

    plain = (
        f"<xml><ToUserName>{corp}</ToUserName><FromUserName>ZhangSan</FromUserName><CreateTime>{1770000000 + i}"
        f"</CreateTime><MsgType>event</MsgType><Event>scancode_waitmsg</Event><EventKey>{station}</EventKey>"
        f"<ScanCodeInfo><ScanType>qrcode</ScanType><ScanResult><![CDATA[{result}]]></ScanResult></ScanCodeInfo>"
        f"<AgentID>1</AgentID></xml>"
    )
    return seal(
        WeChatCrypto(token, aes_key, corp), token, corp, plain, nonce=f"{nonce}{i}", timestamp=str(1770000000 + i)
    )


async def send_by_session(db, clock, sender, reply: dict, session: str, **route: str) -> int:
    """Queue one DingTalk reply to user 0101 routed through the session webhook `session` (valid 90 minutes more),
    then run the outbox worker once with `sender`: how many it sent."""
    from orderbot.core import outbox
    from orderbot.messaging.worker import OutboxWorker

    expires = str(int(clock().timestamp() * 1000) + 5_400_000)
    async with db.write() as s:
        await outbox.enqueue(
            s,
            channel="dingtalk",
            destination="user:0101",
            kind="reply",
            now=clock(),
            payload={**reply, "_route": {"session": session, **route, "session_expires": expires}},
        )
    return await OutboxWorker(db, {"dingtalk": sender}, clock, seed=1).run_once()
